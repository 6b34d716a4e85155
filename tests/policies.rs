//! The IAM policies in template.yaml, proven against the code.
//!
//! Three links, each checked here or by the compiler:
//!
//! 1. **Code → declarations.** Every port method of the DynamoDB store and the SES
//!    senders declares the IAM actions it calls, on which resource, reaching which kinds
//!    of partition (`store::dynamo::access`, `mail::SES_METHODS`). The `proof` module
//!    runs each of them against DynamoDB Local and the SES emulator — the way the
//!    functions run them, on each function's own wiring — with an SDK interceptor
//!    recording every call (`calls`), and fails on a call not declared and on a
//!    declaration no call needed.
//! 2. **Declarations → binaries.** Each binary's ports are listed once
//!    (`shared/src/wiring.rs`) and are its store's type: `DynamoStore<Ports>` implements
//!    only those ports, so a handler that reaches another one does not compile; an SES
//!    client exists only where a sender port is listed.
//! 3. **Binaries → template.yaml.** `every_function_is_granted_exactly_what_its_wiring_calls`
//!    compares, per function resource, the actions its wiring needs with its policy
//!    statements, both ways (missing and unused), and checks least privilege: no `*`
//!    action, resources scoped to the table, the index only where it is queried, the
//!    sender identity and configuration set, the run bucket's objects by prefix, the
//!    dead-letter queue only where it is the function's destination. `the_comparison_catches_what_it_is_for` proves that the
//!    comparison fails when a policy loses an action or the code gains one.
//!
//! `dynamodb:LeadingKeys` (`ForAllValues:StringLike`) is required exactly where a
//! function reaches one kind of partition only: the customer view, recovery and
//! unsubscribe (`CUSTOMER#*`) and the SES feedback (`SUPPRESSED#*`). The other functions
//! also write partitions that are not the customer's, listed with the reasons in
//! `leading_keys_confine_the_functions_that_reach_one_kind_of_partition`, and the job
//! scans the table, which the condition cannot restrict.
//!
//! Besides what the ports declare, a function's role needs what Lambda does with it
//! (sending to an SQS destination) and the secrets its environment names
//! (`RAPPORT_*_SECRET`, read at run time): those are compared both ways too. Grants of
//! any other service are checked for scope only.

mod calls;
mod proof;

use rapport_shared::access::{Action, Grant, Resource};
use rapport_shared::wiring::{FUNCTIONS, Function};
use serde_yaml::{Mapping, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

const TEMPLATE: &str = rapport_local::tables::TEMPLATE;

/// What a policy statement allows an action on.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Target {
    Table,
    Index(String),
    SenderIdentity,
    ConfigurationSet,
    /// `*`, for an action IAM scopes to no resource.
    Account,
    /// An SQS queue of the template, by logical id.
    Queue(String),
    /// A Secrets Manager secret, by the template parameter naming it.
    Secret(String),
    /// An S3 bucket of the template, by logical id: what is done to the bucket itself.
    Bucket(String),
    /// The objects of an S3 bucket of the template under a key prefix (`runs/`).
    Objects {
        bucket: String,
        prefix: String,
    },
}

/// The bucket the job keeps its run's artifacts in (`RAPPORT_RUN_BUCKET`).
const RUN_BUCKET: &str = "RunBucket";

impl From<Resource> for Target {
    fn from(resource: Resource) -> Self {
        match resource {
            Resource::Table => Target::Table,
            Resource::Index(name) => Target::Index(name.to_owned()),
            Resource::SenderIdentity => Target::SenderIdentity,
            Resource::ConfigurationSet => Target::ConfigurationSet,
            Resource::Account => Target::Account,
            Resource::RunBucket => Target::Bucket(RUN_BUCKET.to_owned()),
            Resource::RunObjects(prefix) => Target::Objects {
                bucket: RUN_BUCKET.to_owned(),
                prefix: prefix.to_owned(),
            },
        }
    }
}

/// One IAM action on one target.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Need {
    action: String,
    target: Target,
}

impl Need {
    fn new(action: &str, target: Target) -> Self {
        Self {
            action: action.to_owned(),
            target,
        }
    }
}

impl From<&Grant> for Need {
    fn from(grant: &Grant) -> Self {
        Need::new(grant.action.iam(), grant.resource.into())
    }
}

impl fmt::Display for Need {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} on {:?}", self.action, self.target)
    }
}

/// Partition kind of a scan: every partition.
const EVERY_PARTITION: &str = "*";

/// What one binary's code needs: each action on each target, with the kinds of
/// partition (key prefixes) it reaches.
type Needs = BTreeMap<Need, BTreeSet<String>>;

fn needs_of(function: &Function) -> Needs {
    let mut needs = Needs::new();
    for method in function.methods() {
        for grant in method.grants {
            let reach = needs.entry(Need::from(grant)).or_default();
            if grant.action == Action::Scan {
                reach.insert(EVERY_PARTITION.to_owned());
            }
            reach.extend(grant.partitions.iter().map(|p| (*p).to_owned()));
        }
    }
    needs
}

/// Every deployed binary's needs, by binary name.
fn declared() -> BTreeMap<String, Needs> {
    FUNCTIONS
        .iter()
        .map(|f| (f.binary.to_owned(), needs_of(f)))
        .collect()
}

/// What the comparison found wrong.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Finding {
    /// The code calls it; the policy does not grant it.
    Missing { function: String, need: Need },
    /// The policy grants it; no code of the function calls it.
    Unused { function: String, need: Need },
    /// A grant wider than a resource of the template: `*`, a pattern, an unknown ARN.
    Unscoped { function: String, what: String },
    /// A `dynamodb:LeadingKeys` condition missing, or narrower than the code's keys.
    LeadingKeys { function: String, what: String },
    /// Something the comparison cannot read, so cannot vouch for.
    Unreadable { function: String, what: String },
    /// A function whose binary has no wiring in `shared/src/wiring.rs`.
    NoWiring { function: String, binary: String },
    /// A wired binary no function of the template deploys.
    NotDeployed { binary: String },
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Finding::Missing { function, need } => {
                write!(
                    f,
                    "{function}: the code calls {need}, the policy does not grant it"
                )
            }
            Finding::Unused { function, need } => {
                write!(
                    f,
                    "{function}: the policy grants {need}, no code of it calls that"
                )
            }
            Finding::Unscoped { function, what } => write!(f, "{function}: unscoped {what}"),
            Finding::LeadingKeys { function, what } => write!(f, "{function}: {what}"),
            Finding::Unreadable { function, what } => write!(f, "{function}: cannot read {what}"),
            Finding::NoWiring { function, binary } => {
                write!(f, "{function}: binary {binary} has no wiring")
            }
            Finding::NotDeployed { binary } => write!(f, "{binary}: wired but not deployed"),
        }
    }
}

/// An intrinsic function, short (`!Sub x`) or long (`{"Fn::Sub": x}`, `{Ref: x}`).
fn intrinsic(value: &Value) -> Option<(String, &Value)> {
    match value {
        Value::Tagged(tagged) => Some((
            tagged.tag.to_string().trim_start_matches('!').to_owned(),
            &tagged.value,
        )),
        Value::Mapping(map) if map.len() == 1 => {
            let (key, arg) = map.iter().next()?;
            let key = key.as_str()?;
            let name = key
                .strip_prefix("Fn::")
                .or((key == "Ref").then_some("Ref"))?;
            Some((name.to_owned(), arg))
        }
        _ => None,
    }
}

fn text(value: &Value) -> String {
    serde_yaml::to_string(value)
        .unwrap_or_default()
        .trim()
        .replace('\n', " ")
}

/// Strings, from one string or a list of them.
fn strings(value: &Value) -> Vec<String> {
    match value {
        Value::String(s) => vec![s.clone()],
        Value::Sequence(items) => items
            .iter()
            .map(|i| i.as_str().map_or_else(|| text(i), str::to_owned))
            .collect(),
        other => vec![text(other)],
    }
}

fn is_ref_to(value: &Value, name: &str) -> bool {
    matches!(intrinsic(value), Some((f, arg)) if f == "Ref" && arg.as_str() == Some(name))
}

/// `!Select [1, !Split ["@", !Ref SenderEmail]]`: the sender address's domain.
fn is_sender_domain(value: &Value) -> bool {
    let Some((select, Value::Sequence(select_args))) = intrinsic(value) else {
        return false;
    };
    let Some((split, Value::Sequence(split_args))) = select_args.get(1).and_then(intrinsic) else {
        return false;
    };
    select == "Select"
        && split == "Split"
        && select_args.first().and_then(Value::as_u64) == Some(1)
        && split_args.first().and_then(Value::as_str) == Some("@")
        && split_args
            .get(1)
            .is_some_and(|v| is_ref_to(v, "SenderEmail"))
}

/// The template, read once per comparison.
struct Template<'t> {
    doc: &'t Value,
}

impl<'t> Template<'t> {
    fn resource_type(&self, logical_id: &str) -> Option<&'t str> {
        self.doc["Resources"][logical_id]["Type"].as_str()
    }

    fn index_names(&self, table: &str) -> Vec<String> {
        self.doc["Resources"][table]["Properties"]["GlobalSecondaryIndexes"]
            .as_sequence()
            .into_iter()
            .flatten()
            .filter_map(|i| i["IndexName"].as_str().map(str::to_owned))
            .collect()
    }

    /// What a statement's `Resource` entry names, or why it is not scoped.
    fn target(&self, resource: &Value) -> Result<Target, String> {
        if resource.as_str() == Some("*") {
            return Ok(Target::Account);
        }
        match intrinsic(resource) {
            Some((f, arg)) if f == "GetAtt" => {
                let (logical, attribute) = match arg {
                    Value::String(s) => s.split_once('.').unwrap_or((s, "")),
                    Value::Sequence(parts) if parts.len() == 2 => (
                        parts[0].as_str().unwrap_or_default(),
                        parts[1].as_str().unwrap_or_default(),
                    ),
                    _ => return Err(text(resource)),
                };
                match (self.resource_type(logical), attribute) {
                    (Some("AWS::DynamoDB::Table"), "Arn") => Ok(Target::Table),
                    (Some("AWS::SQS::Queue"), "Arn") => Ok(Target::Queue(logical.to_owned())),
                    (Some("AWS::S3::Bucket"), "Arn") => Ok(Target::Bucket(logical.to_owned())),
                    _ => Err(text(resource)),
                }
            }
            Some((f, arg)) if f == "Sub" => {
                let (pattern, variables) = match arg {
                    Value::String(s) => (s.as_str(), None),
                    Value::Sequence(parts) if parts.len() == 2 => {
                        (parts[0].as_str().unwrap_or_default(), parts[1].as_mapping())
                    }
                    _ => return Err(text(resource)),
                };
                self.sub_target(pattern, variables)
                    .ok_or_else(|| text(resource))
            }
            _ => Err(text(resource)),
        }
    }

    fn sub_target(&self, pattern: &str, variables: Option<&Mapping>) -> Option<Target> {
        const SES: &str = "arn:${AWS::Partition}:ses:${AWS::Region}:${AWS::AccountId}:";
        const SECRET: &str =
            "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:${";
        if let Some(rest) = pattern.strip_prefix(SECRET) {
            // A secret by name: its ARN ends in `-` and six random characters.
            let parameter = rest.strip_suffix("}-??????")?;
            return self.doc["Parameters"]
                .get(parameter)
                .is_some()
                .then(|| Target::Secret(parameter.to_owned()));
        }
        if let Some(rest) = pattern.strip_prefix("${") {
            let (logical, after) = rest.split_once(".Arn}")?;
            if self.resource_type(logical) == Some("AWS::S3::Bucket") {
                // Objects under one prefix, a folder: `/runs/*`, never the whole bucket.
                let prefix = after.strip_prefix('/')?.strip_suffix('*')?;
                let scoped = prefix.ends_with('/') && prefix.len() > 1;
                return (scoped && !prefix.contains(['*', '?', '$'])).then(|| Target::Objects {
                    bucket: logical.to_owned(),
                    prefix: prefix.to_owned(),
                });
            }
            if self.resource_type(logical) != Some("AWS::DynamoDB::Table") {
                return None;
            }
            if after.is_empty() {
                return Some(Target::Table);
            }
            let index = after.strip_prefix("/index/")?;
            return self
                .index_names(logical)
                .contains(&index.to_owned())
                .then(|| Target::Index(index.to_owned()));
        }
        let rest = pattern.strip_prefix(SES)?;
        if let Some(identity) = rest.strip_prefix("identity/") {
            let variable = identity.strip_prefix("${")?.strip_suffix('}')?;
            let derived = variables
                .and_then(|v| v.get(variable))
                .is_some_and(is_sender_domain);
            return (variable == "SenderEmail" || derived).then_some(Target::SenderIdentity);
        }
        let set = rest
            .strip_prefix("configuration-set/${")?
            .strip_suffix('}')?;
        (self.resource_type(set) == Some("AWS::SES::ConfigurationSet"))
            .then_some(Target::ConfigurationSet)
    }
}

/// One `Allow` statement of a function's policy, as far as it could be read.
#[derive(Debug, Default)]
struct Statement {
    actions: Vec<String>,
    targets: Vec<Result<Target, String>>,
    /// `ForAllValues:StringLike` patterns of `dynamodb:LeadingKeys`.
    leading_keys: Option<Vec<String>>,
}

/// Whether every key of a partition kind (a key prefix) matches `pattern`.
fn covers(pattern: &str, kind: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(fixed) => !fixed.contains(['*', '?']) && kind.starts_with(fixed),
        None => false,
    }
}

/// Actions IAM authorises on no resource but `*`.
const ACCOUNT_ACTIONS: &[&str] = &["ses:GetAccount"];

/// S3 actions on a bucket itself; the others act on its objects.
const BUCKET_ACTIONS: &[&str] = &["s3:ListBucket"];

/// Services whose grants are compared with the code both ways.
fn compared(action: &str) -> bool {
    ["dynamodb:", "ses:", "sqs:", "secretsmanager:", "s3:"]
        .iter()
        .any(|service| action.starts_with(service))
}

/// The kind of target an action of `action`'s service may have.
fn fits(action: &str, target: &Target) -> bool {
    match target {
        Target::Table | Target::Index(_) => action.starts_with("dynamodb:"),
        Target::SenderIdentity | Target::ConfigurationSet => action.starts_with("ses:"),
        // `*` only for what IAM cannot scope: anything else on it is a wildcard grant.
        Target::Account => ACCOUNT_ACTIONS.contains(&action),
        Target::Queue(_) => action.starts_with("sqs:"),
        Target::Secret(_) => action.starts_with("secretsmanager:"),
        Target::Bucket(_) => BUCKET_ACTIONS.contains(&action),
        Target::Objects { .. } => action.starts_with("s3:") && !BUCKET_ACTIONS.contains(&action),
    }
}

/// Reads one function's policies: its statements, and findings for what it cannot read.
fn statements_of(
    template: &Template<'_>,
    function: &str,
    properties: &Value,
    findings: &mut BTreeSet<Finding>,
) -> Vec<Statement> {
    let unreadable = |what: String| Finding::Unreadable {
        function: function.to_owned(),
        what,
    };
    let mut statements = Vec::new();
    for policy in properties["Policies"].as_sequence().into_iter().flatten() {
        if let Some(secret) = policy.get("AWSSecretsManagerGetSecretValuePolicy") {
            // A SAM policy template for one secret: outside the comparison, but scoped.
            if secret["SecretArn"]
                .as_str()
                .is_some_and(|arn| arn.contains('*'))
            {
                findings.insert(Finding::Unscoped {
                    function: function.to_owned(),
                    what: format!("secret {}", text(&secret["SecretArn"])),
                });
            }
            continue;
        }
        let Some(list) = policy.get("Statement").and_then(Value::as_sequence) else {
            findings.insert(unreadable(format!(
                "policy {}: grant in inline statements",
                text(policy)
            )));
            continue;
        };
        for raw in list {
            let mut statement = Statement::default();
            for (key, value) in raw.as_mapping().into_iter().flatten() {
                match key.as_str().unwrap_or_default() {
                    "Sid" => {}
                    "Effect" if value.as_str() == Some("Allow") => {}
                    "Action" => statement.actions = strings(value),
                    "Resource" => {
                        let resources = match value {
                            Value::Sequence(items) => items.clone(),
                            one => vec![one.clone()],
                        };
                        statement.targets = resources.iter().map(|r| template.target(r)).collect();
                    }
                    "Condition" => {
                        for (operator, keys) in value.as_mapping().into_iter().flatten() {
                            let operator = operator.as_str().unwrap_or_default();
                            for (name, values) in keys.as_mapping().into_iter().flatten() {
                                match (operator, name.as_str().unwrap_or_default()) {
                                    ("ForAllValues:StringLike", "dynamodb:LeadingKeys") => {
                                        statement.leading_keys = Some(strings(values));
                                    }
                                    ("StringEquals", "ses:FromAddress")
                                        if is_ref_to(values, "SenderEmail") => {}
                                    (operator, name) => {
                                        findings.insert(unreadable(format!(
                                            "condition {operator} {name}"
                                        )));
                                    }
                                }
                            }
                        }
                    }
                    other => {
                        findings.insert(unreadable(format!("statement element {other}")));
                    }
                }
            }
            statements.push(statement);
        }
    }
    statements
}

/// What the platform does with the function's role: Lambda sends events that failed
/// (or succeeded) to the function's destinations.
fn platform_needs(
    template: &Template<'_>,
    function: &str,
    properties: &Value,
    findings: &mut BTreeSet<Finding>,
) -> BTreeSet<Need> {
    let mut needs = BTreeSet::new();
    // Stream and queue event sources have their own on-failure destination.
    let source_destinations = properties["Events"]
        .as_mapping()
        .into_iter()
        .flatten()
        .map(|(_, event)| &event["Properties"]["DestinationConfig"]["OnFailure"]);
    let destinations = ["OnFailure", "OnSuccess"]
        .iter()
        .map(|d| &properties["EventInvokeConfig"]["DestinationConfig"][*d])
        .chain(source_destinations)
        .filter(|d| !d.is_null())
        .map(|d| (d["Type"].as_str(), &d["Destination"]))
        .chain(
            Some(&properties["DeadLetterQueue"])
                .filter(|d| !d.is_null())
                .map(|d| (d["Type"].as_str(), &d["TargetArn"])),
        );
    for (kind, arn) in destinations {
        match (kind, template.target(arn)) {
            (Some("SQS"), Ok(target @ Target::Queue(_))) => {
                needs.insert(Need::new("sqs:SendMessage", target));
            }
            _ => {
                findings.insert(Finding::Unreadable {
                    function: function.to_owned(),
                    what: format!("destination {kind:?} {}", text(arn)),
                });
            }
        }
    }
    needs
}

/// The secrets a function reads at run time: those its environment names
/// (`RAPPORT_API_KEYS_SECRET: !Ref ApiKeysSecretName`), the global environment's
/// included.
fn secret_needs(
    template: &Template<'_>,
    function: &str,
    properties: &Value,
    findings: &mut BTreeSet<Finding>,
) -> BTreeSet<Need> {
    let global = &template.doc["Globals"]["Function"]["Environment"]["Variables"];
    let own = &properties["Environment"]["Variables"];
    let mut needs = BTreeSet::new();
    for (name, value) in [global, own]
        .into_iter()
        .flat_map(|vars| vars.as_mapping().into_iter().flatten())
    {
        if !name.as_str().is_some_and(|n| n.ends_with("_SECRET")) {
            continue;
        }
        match intrinsic(value) {
            Some((f, Value::String(parameter)))
                if f == "Ref" && template.doc["Parameters"].get(parameter.as_str()).is_some() =>
            {
                needs.insert(Need::new(
                    "secretsmanager:GetSecretValue",
                    Target::Secret(parameter.clone()),
                ));
            }
            _ => {
                findings.insert(Finding::Unreadable {
                    function: function.to_owned(),
                    what: format!("the secret {} names: {}", text(name), text(value)),
                });
            }
        }
    }
    needs
}

/// Everything wrong between the template's function policies and the code's needs.
fn compare(doc: &Value, declared: &BTreeMap<String, Needs>) -> BTreeSet<Finding> {
    let template = Template { doc };
    let mut findings = BTreeSet::new();
    let mut deployed = BTreeSet::new();
    for (id, resource) in doc["Resources"].as_mapping().into_iter().flatten() {
        if resource["Type"].as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        let function = id.as_str().unwrap_or_default().to_owned();
        let Some(binary) = resource["Metadata"]["BuildProperties"]["Binary"].as_str() else {
            findings.insert(Finding::Unreadable {
                function,
                what: "Metadata.BuildProperties.Binary".into(),
            });
            continue;
        };
        deployed.insert(binary.to_owned());
        let Some(needs) = declared.get(binary) else {
            findings.insert(Finding::NoWiring {
                function,
                binary: binary.to_owned(),
            });
            continue;
        };
        let properties = &resource["Properties"];
        let statements = statements_of(&template, &function, properties, &mut findings);
        let mut expected: BTreeSet<Need> = needs.keys().cloned().collect();
        expected.extend(platform_needs(
            &template,
            &function,
            properties,
            &mut findings,
        ));
        expected.extend(secret_needs(
            &template,
            &function,
            properties,
            &mut findings,
        ));

        // Granted: every action on every target, with the statements granting it.
        let mut granted: BTreeMap<Need, Vec<&Statement>> = BTreeMap::new();
        for statement in &statements {
            for action in &statement.actions {
                if action.contains(['*', '?']) || !action.contains(':') {
                    findings.insert(Finding::Unscoped {
                        function: function.clone(),
                        what: format!("action {action}"),
                    });
                    continue;
                }
                for target in &statement.targets {
                    match target {
                        Ok(target) if fits(action, target) => granted
                            .entry(Need::new(action, target.clone()))
                            .or_default()
                            .push(statement),
                        Ok(target) => {
                            findings.insert(Finding::Unscoped {
                                function: function.clone(),
                                what: format!("{action} on {target:?}"),
                            });
                        }
                        Err(resource) => {
                            findings.insert(Finding::Unscoped {
                                function: function.clone(),
                                what: format!("{action} on {resource}"),
                            });
                        }
                    }
                }
            }
            if statement.targets.is_empty() {
                findings.insert(Finding::Unreadable {
                    function: function.clone(),
                    what: "a statement without Resource".into(),
                });
            }
        }
        for need in expected.difference(&granted.keys().cloned().collect()) {
            findings.insert(Finding::Missing {
                function: function.clone(),
                need: need.clone(),
            });
        }
        for need in granted.keys() {
            if compared(&need.action) && !expected.contains(need) {
                findings.insert(Finding::Unused {
                    function: function.clone(),
                    need: need.clone(),
                });
            }
        }

        // LeadingKeys: every key the code uses must pass the condition, and a function
        // that reaches one kind of partition only must carry it.
        let mut table_kinds = BTreeSet::new();
        for (need, reach) in needs {
            if need.target == Target::Table {
                table_kinds.extend(reach.iter().cloned());
            }
            let Some(granting) = granted.get(need) else {
                continue;
            };
            if granting.iter().any(|s| s.leading_keys.is_none()) {
                continue;
            }
            let patterns: Vec<&String> = granting
                .iter()
                .flat_map(|s| s.leading_keys.iter().flatten())
                .collect();
            for kind in reach {
                if !patterns.iter().any(|p| covers(p, kind)) {
                    let what = if kind == EVERY_PARTITION {
                        format!(
                            "{need} reads every partition under dynamodb:LeadingKeys, which cannot restrict it"
                        )
                    } else {
                        format!(
                            "{need} reaches {kind} keys, dynamodb:LeadingKeys allows only {patterns:?}"
                        )
                    };
                    findings.insert(Finding::LeadingKeys {
                        function: function.clone(),
                        what,
                    });
                }
            }
        }
        if table_kinds.len() == 1 && !table_kinds.contains(EVERY_PARTITION) {
            let unconditioned = granted.iter().any(|(need, granting)| {
                need.target == Target::Table && granting.iter().any(|s| s.leading_keys.is_none())
            });
            if unconditioned {
                findings.insert(Finding::LeadingKeys {
                    function: function.clone(),
                    what: format!(
                        "reaches only {table_kinds:?} keys: its table statements need dynamodb:LeadingKeys"
                    ),
                });
            }
        }
    }
    for binary in declared.keys() {
        if !deployed.contains(binary) {
            findings.insert(Finding::NotDeployed {
                binary: binary.clone(),
            });
        }
    }
    findings
}

fn template() -> Value {
    serde_yaml::from_str(TEMPLATE).expect("template.yaml parses")
}

fn report(findings: &BTreeSet<Finding>) -> String {
    findings
        .iter()
        .map(|f| format!("  {f}"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn every_function_is_granted_exactly_what_its_wiring_calls() {
    let findings = compare(&template(), &declared());
    assert!(
        findings.is_empty(),
        "template.yaml and the code disagree:\n{}",
        report(&findings)
    );
}

/// The function resource of `binary` in the parsed template, to mutate.
fn function_mut<'v>(doc: &'v mut Value, logical_id: &str) -> &'v mut Value {
    &mut doc["Resources"][logical_id]["Properties"]
}

/// The statements of the first inline policy of a function.
fn statements_mut<'v>(doc: &'v mut Value, logical_id: &str) -> &'v mut Vec<Value> {
    function_mut(doc, logical_id)["Policies"][0]["Statement"]
        .as_sequence_mut()
        .expect("an inline policy")
}

fn grants(statement: &Value, action: &str) -> bool {
    statement["Action"]
        .as_sequence()
        .is_some_and(|actions| actions.iter().any(|a| a.as_str() == Some(action)))
}

/// The statement of a function that grants `action`.
fn statement_mut<'v>(doc: &'v mut Value, logical_id: &str, action: &str) -> &'v mut Value {
    statements_mut(doc, logical_id)
        .iter_mut()
        .find(|s| grants(s, action))
        .unwrap_or_else(|| panic!("{logical_id} grants {action}"))
}

fn actions_mut(statement: &mut Value) -> &mut Vec<Value> {
    statement["Action"]
        .as_sequence_mut()
        .expect("a list of actions")
}

fn missing(function: &str, action: Action, target: Target) -> Finding {
    Finding::Missing {
        function: function.into(),
        need: Need::new(action.iam(), target),
    }
}

#[test]
fn the_comparison_catches_what_it_is_for() {
    let clean = template();
    let code = declared();
    assert!(compare(&clean, &code).is_empty());
    let one = |finding: Finding| BTreeSet::from([finding]);

    // The bug this test exists for: the job's policy as it was (Scan, PutItem and
    // BatchWriteItem) — the birthday reward reads with GetItem.
    let mut doc = clean.clone();
    actions_mut(statement_mut(&mut doc, "JobFunction", "dynamodb:GetItem"))
        .retain(|a| a.as_str() != Some("dynamodb:GetItem"));
    assert_eq!(
        compare(&doc, &code),
        one(missing("JobFunction", Action::GetItem, Target::Table))
    );

    // The code gains an action its policy lacks.
    let mut more = code.clone();
    more.get_mut("customer").unwrap().insert(
        Need::new("dynamodb:UpdateItem", Target::Table),
        BTreeSet::from(["CUSTOMER#".to_owned()]),
    );
    assert_eq!(
        compare(&clean, &more),
        one(missing(
            "CustomerFunction",
            Action::UpdateItem,
            Target::Table
        ))
    );

    // A policy grants what no code of the function calls.
    let mut doc = clean.clone();
    actions_mut(statement_mut(
        &mut doc,
        "ReviewFunction",
        "dynamodb:PutItem",
    ))
    .push("dynamodb:DeleteItem".into());
    assert_eq!(
        compare(&doc, &code),
        one(Finding::Unused {
            function: "ReviewFunction".into(),
            need: Need::new("dynamodb:DeleteItem", Target::Table),
        })
    );

    // An index granted where none is queried.
    let mut doc = clean.clone();
    let index = statement_mut(&mut doc, "ReferralFunction", "dynamodb:Query").clone();
    statements_mut(&mut doc, "PrivacyFunction").push(index);
    assert_eq!(
        compare(&doc, &code),
        one(Finding::Unused {
            function: "PrivacyFunction".into(),
            need: Need::new("dynamodb:Query", Target::Index("GSI1".into())),
        })
    );

    // Wildcards are never scoped: `*` is for what IAM cannot scope (the account).
    let mut doc = clean.clone();
    statement_mut(&mut doc, "ReviewFunction", "ses:SendEmail")["Resource"] = "*".into();
    let findings = compare(&doc, &code);
    assert!(
        findings.contains(&Finding::Unscoped {
            function: "ReviewFunction".into(),
            what: "ses:SendEmail on Account".into(),
        }),
        "{}",
        report(&findings)
    );
    let mut doc = clean.clone();
    actions_mut(statement_mut(
        &mut doc,
        "RecoveryFunction",
        "dynamodb:GetItem",
    ))
    .push("dynamodb:*".into());
    assert!(compare(&doc, &code).contains(&Finding::Unscoped {
        function: "RecoveryFunction".into(),
        what: "action dynamodb:*".into(),
    }));

    // A function of one kind of partition loses its LeadingKeys condition…
    let mut doc = clean.clone();
    statement_mut(&mut doc, "RecoveryFunction", "dynamodb:GetItem")
        .as_mapping_mut()
        .unwrap()
        .remove("Condition");
    assert!(matches!(
        compare(&doc, &code).into_iter().collect::<Vec<_>>().as_slice(),
        [Finding::LeadingKeys { function, .. }] if function == "RecoveryFunction"
    ));
    // …or its code starts writing idempotency records the condition forbids.
    let mut more = code.clone();
    more.get_mut("recovery")
        .unwrap()
        .get_mut(&Need::new("dynamodb:PutItem", Target::Table))
        .unwrap()
        .insert("EVENT#".into());
    assert!(matches!(
        compare(&clean, &more).into_iter().collect::<Vec<_>>().as_slice(),
        [Finding::LeadingKeys { function, what }]
            if function == "RecoveryFunction" && what.contains("EVENT#")
    ));

    // The dead-letter queue's grant goes with the destination.
    let mut doc = clean.clone();
    statements_mut(&mut doc, "SesFeedbackFunction").retain(|s| !grants(s, "sqs:SendMessage"));
    assert_eq!(
        compare(&doc, &code),
        one(Finding::Missing {
            function: "SesFeedbackFunction".into(),
            need: Need::new(
                "sqs:SendMessage",
                Target::Queue("SesFeedbackDeadLetterQueue".into())
            ),
        })
    );
    let mut doc = clean.clone();
    let send = statement_mut(&mut doc, "SesFeedbackFunction", "sqs:SendMessage").clone();
    statements_mut(&mut doc, "JobFunction").push(send);
    assert_eq!(
        compare(&doc, &code),
        one(Finding::Unused {
            function: "JobFunction".into(),
            need: Need::new(
                "sqs:SendMessage",
                Target::Queue("SesFeedbackDeadLetterQueue".into())
            ),
        })
    );

    // A secret goes with the environment that names it.
    let mut doc = clean.clone();
    statements_mut(&mut doc, "UnsubscribeFunction")
        .retain(|s| !grants(s, "secretsmanager:GetSecretValue"));
    assert_eq!(
        compare(&doc, &code),
        one(Finding::Missing {
            function: "UnsubscribeFunction".into(),
            need: Need::new(
                "secretsmanager:GetSecretValue",
                Target::Secret("UnsubscribeKeysSecretName".into())
            ),
        })
    );
    let mut doc = clean.clone();
    let keys = statement_mut(
        &mut doc,
        "PurchaseFunction",
        "secretsmanager:GetSecretValue",
    )
    .clone();
    statements_mut(&mut doc, "SesFeedbackFunction").push(keys);
    assert_eq!(
        compare(&doc, &code),
        one(Finding::Unused {
            function: "SesFeedbackFunction".into(),
            need: Need::new(
                "secretsmanager:GetSecretValue",
                Target::Secret("ApiKeysSecretName".into())
            ),
        })
    );

    // The job's run bucket: a prefix lost, and the whole bucket instead of a prefix.
    let mut doc = clean.clone();
    statement_mut(&mut doc, "JobFunction", "s3:PutObject")["Resource"]
        .as_sequence_mut()
        .unwrap()
        .retain(|r| !text(r).contains("/reports/"));
    let reports = Target::Objects {
        bucket: RUN_BUCKET.into(),
        prefix: "reports/".into(),
    };
    assert_eq!(
        compare(&doc, &code),
        BTreeSet::from([
            missing("JobFunction", Action::GetObject, reports.clone()),
            missing("JobFunction", Action::PutObject, reports),
        ])
    );
    let mut doc = clean.clone();
    statement_mut(&mut doc, "JobFunction", "s3:PutObject")["Resource"]
        .as_sequence_mut()
        .unwrap()
        .push(serde_yaml::from_str("!Sub \"${RunBucket.Arn}/*\"").unwrap());
    let findings = compare(&doc, &code);
    assert!(
        findings.iter().any(|f| matches!(f, Finding::Unscoped { function, what }
            if function == "JobFunction" && what.starts_with("s3:PutObject on ") && what.contains("${RunBucket.Arn}/*"))),
        "{}",
        report(&findings)
    );
    // The listing that makes a missing object a 404 rather than a 403.
    let mut doc = clean.clone();
    statements_mut(&mut doc, "JobFunction").retain(|s| !grants(s, "s3:ListBucket"));
    assert_eq!(
        compare(&doc, &code),
        one(missing(
            "JobFunction",
            Action::ListBucket,
            Target::Bucket(RUN_BUCKET.into())
        ))
    );

    // A binary deployed without wiring, a wiring deployed nowhere.
    let mut less = code.clone();
    less.remove("ses-feedback");
    less.insert("signup".into(), Needs::new());
    assert_eq!(
        compare(&clean, &less),
        BTreeSet::from([
            Finding::NoWiring {
                function: "SesFeedbackFunction".into(),
                binary: "ses-feedback".into(),
            },
            Finding::NotDeployed {
                binary: "signup".into()
            },
        ])
    );
}

#[test]
fn leading_keys_confine_the_functions_that_reach_one_kind_of_partition() {
    // What each binary's table actions reach, from its wiring; the condition is
    // required (and present, see above) where that is one kind only.
    let reach: BTreeMap<String, BTreeSet<String>> = declared()
        .into_iter()
        .map(|(binary, needs)| {
            let kinds = needs
                .into_iter()
                .filter(|(need, _)| need.target == Target::Table)
                .flat_map(|(_, kinds)| kinds)
                .collect();
            (binary, kinds)
        })
        .collect();
    let kinds = |list: &[&str]| {
        list.iter()
            .map(|k| (*k).to_owned())
            .collect::<BTreeSet<_>>()
    };
    let expected = BTreeMap::from([
        // One kind: the condition holds them to it.
        ("customer".to_owned(), kinds(&["CUSTOMER#", "PROGRAM#"])),
        ("recovery".to_owned(), kinds(&["CUSTOMER#"])),
        ("unsubscribe".to_owned(), kinds(&["CUSTOMER#"])),
        ("ses-feedback".to_owned(), kinds(&["SUPPRESSED#"])),
        // A coupon, and its customer's address.
        ("coupon-sync".to_owned(), kinds(&["COUPON#", "CUSTOMER#"])),
        // Exactly-once events write their EVENT# record beside the customer's items;
        // codes and coupons are claimed in partitions of their own, ratings are
        // per product, an erasure leaves a suppression tombstone.
        // The codes an order names are marked used in their own partitions.
        (
            "purchase".to_owned(),
            kinds(&["COUPON#", "CUSTOMER#", "EVENT#", "PROGRAM#"]),
        ),
        ("coupon".to_owned(), kinds(&["COUPON#"])),
        ("program".to_owned(), kinds(&["PROGRAM#"])),
        (
            "redemption".to_owned(),
            kinds(&["COUPON#", "CUSTOMER#", "EVENT#", "PROGRAM#"]),
        ),
        (
            "review".to_owned(),
            kinds(&["CUSTOMER#", "EVENT#", "PRODUCT#", "PROGRAM#"]),
        ),
        (
            "referral-code".to_owned(),
            kinds(&["CUSTOMER#", "REFCODE#"]),
        ),
        (
            "activity".to_owned(),
            kinds(&["CUSTOMER#", "EVENT#", "PROGRAM#"]),
        ),
        (
            "referral".to_owned(),
            kinds(&["CUSTOMER#", "EVENT#", "PROGRAM#"]),
        ),
        (
            "privacy".to_owned(),
            kinds(&["CUSTOMER#", "EVENT#", "SUPPRESSED#"]),
        ),
        // Orders, refunds and contact updates once per event; redactions as privacy.
        (
            "shopify".to_owned(),
            kinds(&["COUPON#", "CUSTOMER#", "EVENT#", "PROGRAM#", "SUPPRESSED#"]),
        ),
        (
            "woocommerce".to_owned(),
            kinds(&["COUPON#", "CUSTOMER#", "EVENT#", "PROGRAM#"]),
        ),
        // Many kinds; its scan reads the customer index, not the table.
        (
            "rapport-job".to_owned(),
            kinds(&["COUPON#", "CUSTOMER#", "EVENT#", "PROGRAM#", "REFCODE#"]),
        ),
        // Reads reports in the run bucket only.
        ("report".to_owned(), kinds(&[])),
    ]);
    assert_eq!(reach, expected);
}

#[test]
fn sns_triggered_functions_keep_the_events_they_could_not_handle() {
    let doc = template();
    let template = Template { doc: &doc };
    let mut checked = 0;
    for (id, resource) in doc["Resources"].as_mapping().into_iter().flatten() {
        let properties = &resource["Properties"];
        let by_sns = properties["Events"]
            .as_mapping()
            .into_iter()
            .flatten()
            .any(|(_, e)| e["Type"].as_str() == Some("SNS"));
        if !by_sns {
            continue;
        }
        checked += 1;
        // SNS invokes asynchronously: Lambda retries a failed invocation, then hands
        // the event to the function's on-failure destination.
        let destination = &properties["EventInvokeConfig"]["DestinationConfig"]["OnFailure"];
        assert_eq!(destination["Type"].as_str(), Some("SQS"), "{id:?}");
        let Ok(Target::Queue(queue)) = template.target(&destination["Destination"]) else {
            panic!("{id:?}: the destination is not a queue of the template");
        };
        let queue = &doc["Resources"][queue.as_str()]["Properties"];
        assert_eq!(queue["MessageRetentionPeriod"].as_u64(), Some(1_209_600));
        assert_eq!(queue["SqsManagedSseEnabled"].as_bool(), Some(true));
    }
    assert_eq!(checked, 1, "the SES feedback function");
}

#[test]
fn each_function_binary_runs_on_its_own_wiring() {
    // `lambda_function!(name)` serves `Api::name` on `wiring::name::Ports`; the
    // binary's file must name the wiring the table lists for it.
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace")
        .to_path_buf();
    for function in FUNCTIONS {
        let file = match function.binary {
            "rapport-job" => repo.join("jobs/job/src/bin/rapport-job.rs"),
            binary => repo.join(format!("functions/src/bin/{binary}.rs")),
        };
        let source =
            std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let expected = match function.binary {
            "ses-feedback" => "run_feedback()".to_owned(),
            "coupon-sync" => "run_code_sync()".to_owned(),
            "rapport-job" => "run_from_env(".to_owned(),
            binary => format!("lambda_function!({})", binary.replace('-', "_")),
        };
        assert!(
            source.contains(&expected),
            "{} does not call {expected}",
            file.display()
        );
    }
}

#[test]
fn the_job_keeps_its_artifacts_in_the_bucket_it_is_told_under_prefixes_that_expire() {
    use rapport_shared::store::s3::PREFIXES;
    let doc = template();
    // The bucket the grants name is the one the function is told to use.
    let job = &doc["Resources"]["JobFunction"]["Properties"];
    assert!(
        is_ref_to(
            &job["Environment"]["Variables"][rapport_shared::bootstrap::RUN_BUCKET_ENV],
            RUN_BUCKET
        ),
        "JobFunction's RAPPORT_RUN_BUCKET is not !Ref {RUN_BUCKET}"
    );
    assert_eq!(
        doc["Resources"][RUN_BUCKET]["Type"].as_str(),
        Some("AWS::S3::Bucket")
    );
    // Every prefix the code writes under has a lifecycle: nothing is kept forever.
    let rules = doc["Resources"][RUN_BUCKET]["Properties"]["LifecycleConfiguration"]["Rules"]
        .as_sequence()
        .expect("lifecycle rules");
    for prefix in PREFIXES {
        assert!(
            rules.iter().any(|rule| {
                rule["Status"].as_str() == Some("Enabled")
                    && rule["Prefix"].as_str() == Some(prefix)
                    && !rule["ExpirationInDays"].is_null()
            }),
            "no enabled expiry for {prefix}"
        );
    }
}
