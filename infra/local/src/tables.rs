//! Creates the application's table on a local DynamoDB from the `RapportTable` resource
//! of template.yaml.
//!
//! The template is the only definition of the table's keys and indexes; reading it here
//! (embedded at compile time, so tests need no path) keeps the local schema from
//! drifting away from the deployed one.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::operation::create_table::{CreateTableError, CreateTableInput};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, IndexStatus, KeySchemaElement, KeyType,
    LocalSecondaryIndex, Projection, ProjectionType, ProvisionedThroughput, ScalarAttributeType,
    StreamSpecification, StreamViewType, TableStatus, TimeToLiveSpecification, TimeToLiveStatus,
};
use serde::Deserialize;

/// The SAM template, as deployed.
pub const TEMPLATE: &str = include_str!("../../../template.yaml");
/// The logical id of the table resource in [`TEMPLATE`].
pub const TABLE_RESOURCE: &str = "RapportTable";

const ACTIVE_TIMEOUT: Duration = Duration::from_secs(60);

/// The `Properties` of an `AWS::DynamoDB::Table` that matter to a local table.
/// Everything else (point-in-time recovery, encryption, tags, deletion protection…)
/// is accepted and ignored: DynamoDB Local has no use for it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TableSpec {
    #[serde(default)]
    pub billing_mode: Option<String>,
    pub attribute_definitions: Vec<AttributeSpec>,
    pub key_schema: Vec<KeySpec>,
    #[serde(default)]
    pub global_secondary_indexes: Vec<IndexSpec>,
    #[serde(default)]
    pub local_secondary_indexes: Vec<IndexSpec>,
    #[serde(default)]
    pub provisioned_throughput: Option<ThroughputSpec>,
    #[serde(default)]
    pub stream_specification: Option<StreamSpec>,
    #[serde(default)]
    pub time_to_live_specification: Option<TtlSpec>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AttributeSpec {
    pub attribute_name: String,
    pub attribute_type: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeySpec {
    pub attribute_name: String,
    pub key_type: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct IndexSpec {
    pub index_name: String,
    pub key_schema: Vec<KeySpec>,
    pub projection: ProjectionSpec,
    #[serde(default)]
    pub provisioned_throughput: Option<ThroughputSpec>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ProjectionSpec {
    #[serde(default)]
    pub projection_type: Option<String>,
    #[serde(default)]
    pub non_key_attributes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ThroughputSpec {
    pub read_capacity_units: i64,
    pub write_capacity_units: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StreamSpec {
    pub stream_view_type: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TtlSpec {
    pub attribute_name: String,
    pub enabled: bool,
}

/// The properties [`TableSpec`] reads; intrinsic functions are tolerated elsewhere.
const USED_PROPERTIES: [&str; 8] = [
    "BillingMode",
    "AttributeDefinitions",
    "KeySchema",
    "GlobalSecondaryIndexes",
    "LocalSecondaryIndexes",
    "ProvisionedThroughput",
    "StreamSpecification",
    "TimeToLiveSpecification",
];

/// The first YAML tag (`!Ref`, `!Sub`, …) anywhere inside `value`.
fn find_tag(value: &serde_yaml::Value) -> Option<String> {
    match value {
        serde_yaml::Value::Tagged(tagged) => Some(tagged.tag.to_string()),
        serde_yaml::Value::Sequence(items) => items.iter().find_map(find_tag),
        serde_yaml::Value::Mapping(map) => map.values().find_map(find_tag),
        _ => None,
    }
}

impl TableSpec {
    /// The `RapportTable` definition from the embedded template.
    pub fn from_template() -> Result<Self> {
        Self::parse(TEMPLATE, TABLE_RESOURCE)
    }

    /// Reads the table resource `resource` from a CloudFormation/SAM template.
    /// Short-form intrinsics such as `!Ref` elsewhere in the template are fine; inside
    /// the table's own key properties they are rejected, as they cannot be resolved here.
    pub fn parse(template: &str, resource: &str) -> Result<Self> {
        let doc: serde_yaml::Value =
            serde_yaml::from_str(template).context("template is not valid YAML")?;
        let table = doc
            .get("Resources")
            .and_then(|resources| resources.get(resource))
            .ok_or_else(|| anyhow!("the template has no resource {resource}"))?;
        let kind = table.get("Type").and_then(serde_yaml::Value::as_str);
        if kind != Some("AWS::DynamoDB::Table") {
            bail!("{resource} is a {kind:?}, not an AWS::DynamoDB::Table");
        }
        let properties = table
            .get("Properties")
            .cloned()
            .ok_or_else(|| anyhow!("{resource} has no Properties"))?;
        // serde_yaml would read `!Ref Mode` as the plain string "Mode"; refuse instead.
        for key in USED_PROPERTIES {
            if let Some(tag) = properties.get(key).and_then(find_tag) {
                bail!("{resource}.Properties.{key} uses {tag}, which cannot be resolved locally");
            }
        }
        serde_yaml::from_value(properties)
            .with_context(|| format!("reading the Properties of {resource}"))
    }

    /// The CreateTable request for this definition under `table_name` (local tables
    /// are named by the caller, so tests can each have their own).
    pub fn create_table_input(&self, table_name: &str) -> Result<CreateTableInput> {
        let billing_mode = self
            .billing_mode
            .as_deref()
            .map(|mode| parse_enum("BillingMode", mode, BillingMode::try_parse))
            .transpose()?;
        let provisioned = billing_mode == Some(BillingMode::Provisioned);
        let attributes = self
            .attribute_definitions
            .iter()
            .map(|a| {
                AttributeDefinition::builder()
                    .attribute_name(&a.attribute_name)
                    .attribute_type(parse_enum(
                        "AttributeType",
                        &a.attribute_type,
                        ScalarAttributeType::try_parse,
                    )?)
                    .build()
                    .context("building an attribute definition")
            })
            .collect::<Result<Vec<_>>>()?;
        let gsis = self
            .global_secondary_indexes
            .iter()
            .map(|index| {
                GlobalSecondaryIndex::builder()
                    .index_name(&index.index_name)
                    .set_key_schema(Some(key_schema(&index.key_schema)?))
                    .projection(projection(&index.projection)?)
                    .set_provisioned_throughput(
                        index
                            .provisioned_throughput
                            .as_ref()
                            .map(throughput)
                            .transpose()?,
                    )
                    .build()
                    .with_context(|| format!("building index {}", index.index_name))
            })
            .collect::<Result<Vec<_>>>()?;
        let lsis = self
            .local_secondary_indexes
            .iter()
            .map(|index| {
                LocalSecondaryIndex::builder()
                    .index_name(&index.index_name)
                    .set_key_schema(Some(key_schema(&index.key_schema)?))
                    .projection(projection(&index.projection)?)
                    .build()
                    .with_context(|| format!("building index {}", index.index_name))
            })
            .collect::<Result<Vec<_>>>()?;
        let streams = self
            .stream_specification
            .as_ref()
            .map(|s| {
                StreamSpecification::builder()
                    .stream_enabled(true)
                    .stream_view_type(parse_enum(
                        "StreamViewType",
                        &s.stream_view_type,
                        StreamViewType::try_parse,
                    )?)
                    .build()
                    .context("building the stream specification")
            })
            .transpose()?;
        if provisioned && self.provisioned_throughput.is_none() {
            bail!("BillingMode PROVISIONED needs ProvisionedThroughput");
        }

        CreateTableInput::builder()
            .table_name(table_name)
            .set_attribute_definitions(Some(attributes))
            .set_key_schema(Some(key_schema(&self.key_schema)?))
            .set_global_secondary_indexes((!gsis.is_empty()).then_some(gsis))
            .set_local_secondary_indexes((!lsis.is_empty()).then_some(lsis))
            .set_billing_mode(billing_mode)
            .set_provisioned_throughput(
                self.provisioned_throughput
                    .as_ref()
                    .map(throughput)
                    .transpose()?,
            )
            .set_stream_specification(streams)
            .build()
            .context("building the CreateTable request")
    }
}

/// The SDK's enums take any string, unknown ones as `Unknown`; a typo in the template
/// must fail here rather than as an obscure service error.
fn parse_enum<T, E>(what: &str, value: &str, parse: fn(&str) -> Result<T, E>) -> Result<T> {
    parse(value).map_err(|_| anyhow!("{what} {value:?} is not a value DynamoDB knows"))
}

fn key_schema(keys: &[KeySpec]) -> Result<Vec<KeySchemaElement>> {
    keys.iter()
        .map(|k| {
            KeySchemaElement::builder()
                .attribute_name(&k.attribute_name)
                .key_type(parse_enum("KeyType", &k.key_type, KeyType::try_parse)?)
                .build()
                .context("building a key schema element")
        })
        .collect()
}

fn projection(spec: &ProjectionSpec) -> Result<Projection> {
    Ok(Projection::builder()
        .set_projection_type(
            spec.projection_type
                .as_deref()
                .map(|t| parse_enum("ProjectionType", t, ProjectionType::try_parse))
                .transpose()?,
        )
        .set_non_key_attributes(
            (!spec.non_key_attributes.is_empty()).then(|| spec.non_key_attributes.clone()),
        )
        .build())
}

fn throughput(spec: &ThroughputSpec) -> Result<ProvisionedThroughput> {
    ProvisionedThroughput::builder()
        .read_capacity_units(spec.read_capacity_units)
        .write_capacity_units(spec.write_capacity_units)
        .build()
        .context("building provisioned throughput")
}

/// Creates `table_name` as template.yaml defines `RapportTable`, and waits until it and
/// its indexes are ACTIVE. An existing table is left as it is.
pub async fn create_table(client: &Client, table_name: &str) -> Result<()> {
    create_table_from(client, table_name, &TableSpec::from_template()?).await
}

/// [`create_table`] without the table's stream, for tests that do not read it.
///
/// DynamoDB Local keeps every stream busy in the background: one shared instance with a
/// few hundred test tables, each with a stream, spent a whole core on them and slowed
/// every request until concurrency and job tests timed out. (Streams cost nothing per
/// write in AWS.) The tests of the stream, the local stack and the demo keep it.
pub async fn create_table_without_stream(client: &Client, table_name: &str) -> Result<()> {
    let spec = TableSpec {
        stream_specification: None,
        ..TableSpec::from_template()?
    };
    create_table_from(client, table_name, &spec).await
}

/// [`create_table`] for any table definition.
pub async fn create_table_from(client: &Client, table_name: &str, spec: &TableSpec) -> Result<()> {
    let input = spec.create_table_input(table_name)?;
    let created = client
        .create_table()
        .set_table_name(input.table_name)
        .set_attribute_definitions(input.attribute_definitions)
        .set_key_schema(input.key_schema)
        .set_global_secondary_indexes(input.global_secondary_indexes)
        .set_local_secondary_indexes(input.local_secondary_indexes)
        .set_billing_mode(input.billing_mode)
        .set_provisioned_throughput(input.provisioned_throughput)
        .set_stream_specification(input.stream_specification)
        .send()
        .await;
    match created {
        Ok(_) => tracing::info!(table = table_name, "created table"),
        Err(e)
            if matches!(
                e.as_service_error(),
                Some(CreateTableError::ResourceInUseException(_))
            ) =>
        {
            tracing::debug!(table = table_name, "table already exists");
        }
        Err(e) => bail!("creating table {table_name}: {}", DisplayErrorContext(&e)),
    }
    wait_until_active(client, table_name).await?;
    if let Some(ttl) = spec
        .time_to_live_specification
        .as_ref()
        .filter(|t| t.enabled)
    {
        enable_ttl(client, table_name, &ttl.attribute_name).await?;
    }
    Ok(())
}

async fn wait_until_active(client: &Client, table_name: &str) -> Result<()> {
    let started = Instant::now();
    loop {
        let described = client
            .describe_table()
            .table_name(table_name)
            .send()
            .await
            .map_err(|e| anyhow!("describing table {table_name}: {}", DisplayErrorContext(&e)))?;
        let table = described
            .table()
            .ok_or_else(|| anyhow!("DescribeTable returned no table for {table_name}"))?;
        let indexes_active = table
            .global_secondary_indexes()
            .iter()
            .all(|index| index.index_status() == Some(&IndexStatus::Active));
        if table.table_status() == Some(&TableStatus::Active) && indexes_active {
            return Ok(());
        }
        if started.elapsed() > ACTIVE_TIMEOUT {
            bail!(
                "table {table_name} not ACTIVE after {}s (status {:?})",
                ACTIVE_TIMEOUT.as_secs(),
                table.table_status()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// UpdateTimeToLive fails on a table whose TTL is already on, so look first.
async fn enable_ttl(client: &Client, table_name: &str, attribute: &str) -> Result<()> {
    let current = client
        .describe_time_to_live()
        .table_name(table_name)
        .send()
        .await
        .map_err(|e| {
            anyhow!(
                "describing TTL of {table_name}: {}",
                DisplayErrorContext(&e)
            )
        })?;
    let description = current.time_to_live_description();
    let status = description.and_then(|d| d.time_to_live_status());
    let on = matches!(
        status,
        Some(TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling)
    );
    if on && description.and_then(|d| d.attribute_name()) == Some(attribute) {
        return Ok(());
    }
    client
        .update_time_to_live()
        .table_name(table_name)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .attribute_name(attribute)
                .enabled(true)
                .build()
                .context("building the TTL specification")?,
        )
        .send()
        .await
        .map_err(|e| {
            anyhow!(
                "enabling TTL on {table_name}.{attribute}: {}",
                DisplayErrorContext(&e)
            )
        })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rapport_shared::store::dynamo::keys::{GSI1, PK, SK};

    #[test]
    fn the_template_defines_the_table_the_store_expects() {
        let spec = TableSpec::from_template().unwrap();
        assert_eq!(spec.billing_mode.as_deref(), Some("PAY_PER_REQUEST"));
        let keys: Vec<_> = spec
            .key_schema
            .iter()
            .map(|k| (k.attribute_name.as_str(), k.key_type.as_str()))
            .collect();
        assert_eq!(keys, [(PK, "HASH"), (SK, "RANGE")]);
        let gsi1 = spec
            .global_secondary_indexes
            .iter()
            .find(|i| i.index_name == GSI1)
            .unwrap();
        assert_eq!(gsi1.projection.projection_type.as_deref(), Some("INCLUDE"));
        assert_eq!(gsi1.projection.non_key_attributes, ["customer_id"]);

        let input = spec.create_table_input("t").unwrap();
        assert_eq!(input.table_name(), Some("t"));
        assert_eq!(input.billing_mode(), Some(&BillingMode::PayPerRequest));
        assert_eq!(
            input.attribute_definitions().len(),
            spec.attribute_definitions.len()
        );
        let gsi = &input.global_secondary_indexes()[0];
        assert_eq!(gsi.index_name(), GSI1);
        assert_eq!(gsi.key_schema()[0].key_type(), &KeyType::Hash);
        let projection = gsi.projection().unwrap();
        assert_eq!(projection.projection_type(), Some(&ProjectionType::Include));
        assert_eq!(projection.non_key_attributes(), ["customer_id"]);
        assert!(gsi.provisioned_throughput().is_none());
        assert!(input.local_secondary_indexes().is_empty());
    }

    const TAGGED: &str = r#"
Parameters:
  Stage: { Type: String }
Globals:
  Function:
    Environment:
      Variables:
        TABLE: !Ref Things
        NAME: !Sub "${Stage}-things"
Resources:
  Things:
    Type: AWS::DynamoDB::Table
    Properties:
      TableName: !Sub "${Stage}-things"
      BillingMode: PROVISIONED
      ProvisionedThroughput: { ReadCapacityUnits: 5, WriteCapacityUnits: 5 }
      AttributeDefinitions:
        - { AttributeName: id, AttributeType: S }
        - { AttributeName: at, AttributeType: N }
      KeySchema:
        - { AttributeName: id, KeyType: HASH }
      LocalSecondaryIndexes:
        - IndexName: ByTime
          KeySchema:
            - { AttributeName: id, KeyType: HASH }
            - { AttributeName: at, KeyType: RANGE }
          Projection: { ProjectionType: INCLUDE, NonKeyAttributes: [status] }
      StreamSpecification: { StreamViewType: NEW_AND_OLD_IMAGES }
      TimeToLiveSpecification: { AttributeName: expires, Enabled: true }
      SSESpecification: { SSEEnabled: true }
      Tags: [{ Key: team, Value: !Ref Stage }]
  Reader:
    Type: AWS::Serverless::Function
    Properties:
      Policies:
        - Statement:
            - Resource: !GetAtt Things.Arn
Outputs:
  Arn: { Value: !GetAtt Things.Arn }
"#;

    #[test]
    fn short_form_intrinsics_elsewhere_are_tolerated() {
        let spec = TableSpec::parse(TAGGED, "Things").unwrap();
        assert_eq!(
            spec.time_to_live_specification,
            Some(TtlSpec {
                attribute_name: "expires".into(),
                enabled: true
            })
        );
        let input = spec.create_table_input("things").unwrap();
        assert_eq!(input.billing_mode(), Some(&BillingMode::Provisioned));
        assert_eq!(
            input
                .provisioned_throughput()
                .map(|t| t.read_capacity_units()),
            Some(5)
        );
        let lsi = &input.local_secondary_indexes()[0];
        assert_eq!(lsi.projection().unwrap().non_key_attributes(), ["status"]);
        assert_eq!(
            input
                .stream_specification()
                .and_then(|s| s.stream_view_type()),
            Some(&StreamViewType::NewAndOldImages)
        );
    }

    #[test]
    fn mistakes_are_reported_not_guessed() {
        assert!(TableSpec::parse(TAGGED, "Missing").is_err());
        assert!(TableSpec::parse(TAGGED, "Reader").is_err());
        let typo = TAGGED.replace("KeyType: HASH }", "KeyType: HASHH }");
        let spec = TableSpec::parse(&typo, "Things").unwrap();
        let err = spec.create_table_input("x").unwrap_err().to_string();
        assert!(err.contains("HASHH"), "{err}");
        let intrinsic = TAGGED.replace("BillingMode: PROVISIONED", "BillingMode: !Ref Mode");
        let err = TableSpec::parse(&intrinsic, "Things")
            .unwrap_err()
            .to_string();
        assert!(err.contains("BillingMode uses !Ref"), "{err}");
        let nested = TAGGED.replace("AttributeName: at,", "AttributeName: !Sub at,");
        let err = TableSpec::parse(&nested, "Things").unwrap_err().to_string();
        assert!(err.contains("AttributeDefinitions uses !Sub"), "{err}");
    }
}
