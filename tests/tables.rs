//! The template's table on a real DynamoDB Local.

use anyhow::Result;
use aws_sdk_dynamodb::types::{
    AttributeValue, BillingMode, KeyType, ProjectionType, TimeToLiveStatus,
};
use rapport_local::shared_dynamodb;
use rapport_local::tables::{self, TableSpec};
use rapport_shared::domain::CustomerId;
use rapport_shared::store::dynamo::keys::{GSI1, GSI1PK, GSI1SK, PK, PROFILE, SK, customer_pk};

#[tokio::test]
async fn creates_the_template_table_idempotently() -> Result<()> {
    let client = shared_dynamodb().await?.client();
    let name = "tables-template";
    tables::create_table(&client, name).await?;
    tables::create_table(&client, name).await?;

    let table = client
        .describe_table()
        .table_name(name)
        .send()
        .await?
        .table
        .unwrap();
    let keys: Vec<_> = table
        .key_schema()
        .iter()
        .map(|k| (k.attribute_name(), k.key_type().clone()))
        .collect();
    assert_eq!(keys, [(PK, KeyType::Hash), (SK, KeyType::Range)]);
    assert_eq!(
        table.billing_mode_summary().and_then(|b| b.billing_mode()),
        Some(&BillingMode::PayPerRequest)
    );
    let gsi = &table.global_secondary_indexes()[0];
    assert_eq!(gsi.index_name(), Some(GSI1));
    assert_eq!(
        gsi.projection().and_then(|p| p.projection_type()),
        Some(&ProjectionType::All)
    );

    // The index works, not merely exists.
    let s = |v: &str| AttributeValue::S(v.to_owned());
    let customer = customer_pk(&CustomerId::parse("id", "1").unwrap());
    client
        .put_item()
        .table_name(name)
        .item(PK, s(&customer))
        .item(SK, s(PROFILE))
        .item(GSI1PK, s("TIER#gold"))
        .item(GSI1SK, s(&customer))
        .send()
        .await?;
    let found = client
        .query()
        .table_name(name)
        .index_name(GSI1)
        .key_condition_expression(format!("{GSI1PK} = :tier"))
        .expression_attribute_values(":tier", s("TIER#gold"))
        .send()
        .await?;
    assert_eq!(found.count(), 1);
    Ok(())
}

#[tokio::test]
async fn concurrent_creation_of_one_table_succeeds_everywhere() -> Result<()> {
    let client = shared_dynamodb().await?.client();
    let name = "tables-concurrent";
    let (a, b, c) = tokio::join!(
        tables::create_table(&client, name),
        tables::create_table(&client, name),
        tables::create_table(&client, name),
    );
    a?;
    b?;
    c?;
    Ok(())
}

#[tokio::test]
async fn a_ttl_in_the_template_is_switched_on_once() -> Result<()> {
    let template = r#"
Resources:
  Sessions:
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions: [{ AttributeName: id, AttributeType: S }]
      KeySchema: [{ AttributeName: id, KeyType: HASH }]
      TimeToLiveSpecification: { AttributeName: expires_at, Enabled: true }
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true }
"#;
    let spec = TableSpec::parse(template, "Sessions")?;
    let client = shared_dynamodb().await?.client();
    tables::create_table_from(&client, "tables-ttl", &spec).await?;
    tables::create_table_from(&client, "tables-ttl", &spec).await?;
    let ttl = client
        .describe_time_to_live()
        .table_name("tables-ttl")
        .send()
        .await?;
    let description = ttl.time_to_live_description().unwrap();
    assert_eq!(description.attribute_name(), Some("expires_at"));
    assert_eq!(
        description.time_to_live_status(),
        Some(&TimeToLiveStatus::Enabled)
    );
    Ok(())
}
