//! The template's table on a real DynamoDB Local.

use anyhow::Result;
use aws_sdk_dynamodb::types::{
    AttributeValue, BillingMode, KeyType, ProjectionType, TimeToLiveStatus,
};
use rapport_local::shared_dynamodb;
use rapport_local::tables::{self, TableSpec};
use rapport_shared::domain::CustomerId;
use rapport_shared::store::dynamo::keys::{
    GSI1, GSI1PK, GSI1SK, GSI2, GSI2PK, GSI2SK, PK, PROFILE, SK, customer_pk, refcode_pk,
};

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
    let index = |name: &str| {
        table
            .global_secondary_indexes()
            .iter()
            .find(|i| i.index_name() == Some(name))
            .unwrap_or_else(|| panic!("no index {name}"))
    };
    let projection = index(GSI1).projection().unwrap();
    assert_eq!(projection.projection_type(), Some(&ProjectionType::Include));
    assert_eq!(projection.non_key_attributes(), ["customer_id"]);
    // The customer index keeps whole items: the job reads nothing else.
    let customers = index(GSI2);
    let keys: Vec<_> = customers
        .key_schema()
        .iter()
        .map(|k| (k.attribute_name(), k.key_type().clone()))
        .collect();
    assert_eq!(keys, [(GSI2PK, KeyType::Hash), (GSI2SK, KeyType::Range)]);
    assert_eq!(
        customers.projection().unwrap().projection_type(),
        Some(&ProjectionType::All)
    );
    // New coupons reach the coupon-sync function through the stream: keys only.
    let stream = table.stream_specification().unwrap();
    assert_eq!(
        (stream.stream_enabled(), stream.stream_view_type()),
        (
            true,
            Some(&aws_sdk_dynamodb::types::StreamViewType::KeysOnly)
        )
    );

    // The index works, not merely exists, and holds the keys and the owner's id only.
    let s = |v: &str| AttributeValue::S(v.to_owned());
    let customer = customer_pk(&CustomerId::parse("id", "1").unwrap());
    client
        .put_item()
        .table_name(name)
        .item(PK, s(&customer))
        .item(SK, s(PROFILE))
        .item(GSI1PK, s(&refcode_pk("ASHA7")))
        .item(GSI1SK, s(PROFILE))
        .item("customer_id", s("1"))
        .item("email", s("asha@example.com"))
        .send()
        .await?;
    let found = client
        .query()
        .table_name(name)
        .index_name(GSI1)
        .key_condition_expression(format!("{GSI1PK} = :code"))
        .expression_attribute_values(":code", s(&refcode_pk("ASHA7")))
        .send()
        .await?;
    assert_eq!(found.count(), 1);
    let mut attributes: Vec<_> = found.items()[0].keys().map(String::as_str).collect();
    attributes.sort_unstable();
    assert_eq!(attributes, [GSI1PK, GSI1SK, PK, SK, "customer_id"]);
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
