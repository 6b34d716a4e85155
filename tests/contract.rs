//! The route table, the OpenAPI document and template.yaml describe the same API:
//! every route is documented and deployed, and nothing else is.

use rapport_shared::http::{OPENAPI, ROUTES};
use std::collections::BTreeSet;

fn routes() -> BTreeSet<(String, String)> {
    ROUTES
        .iter()
        .map(|(m, p, _)| (m.to_string(), p.to_string()))
        .collect()
}

#[test]
fn openapi_documents_exactly_the_routes() {
    let doc: serde_yaml::Value = serde_yaml::from_str(OPENAPI).expect("openapi.yaml parses");
    assert_eq!(doc["openapi"].as_str(), Some("3.1.0"));
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_mapping().expect("paths") {
        for (method, _) in item.as_mapping().expect("path item") {
            documented.insert((
                method.as_str().unwrap().to_uppercase(),
                path.as_str().unwrap().to_owned(),
            ));
        }
    }
    assert_eq!(documented, routes());
}

/// Each operation names the scope its key needs (`x-scope`), as the code enforces it, and
/// lists the 403 a key without it gets.
#[test]
fn openapi_names_the_scope_each_route_enforces() {
    let doc: serde_yaml::Value = serde_yaml::from_str(OPENAPI).expect("openapi.yaml parses");
    for (method, path, operation) in ROUTES {
        let documented = &doc["paths"][*path][method.to_lowercase().as_str()];
        let scope = operation.scope().map(|s| s.as_str());
        assert_eq!(
            documented["x-scope"].as_str(),
            scope,
            "{method} {path}: x-scope"
        );
        if scope.is_some() {
            assert!(
                documented["responses"]["403"].is_mapping(),
                "{method} {path} documents its 403"
            );
        }
    }
}

#[test]
fn the_template_deploys_exactly_the_routes() {
    let template: serde_yaml::Value =
        serde_yaml::from_str(rapport_local::tables::TEMPLATE).expect("template.yaml parses");
    let mut deployed = BTreeSet::new();
    for (_, resource) in template["Resources"].as_mapping().expect("resources") {
        if resource["Type"].as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        for (_, event) in resource["Properties"]["Events"]
            .as_mapping()
            .into_iter()
            .flatten()
        {
            if event["Type"].as_str() == Some("HttpApi") {
                let p = &event["Properties"];
                deployed.insert((
                    p["Method"].as_str().unwrap().to_owned(),
                    p["Path"].as_str().unwrap().to_owned(),
                ));
            }
        }
    }
    assert_eq!(deployed, routes());
}
