//! Response wrapping and the cubbyhole.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use coffer_core::Core;
use coffer_types::{Error, Operation, Request, Response, Result};
use common::dev;
use serde_json::{Value, json};

async fn call(
    core: &Core,
    token: &str,
    op: Operation,
    path: &str,
    data: Value,
    wrap: Option<i64>,
) -> Result<Response> {
    let mut req = Request::new(op, path)
        .with_token(token)
        .with_data(data.as_object().cloned().unwrap_or_default());
    req.wrap_ttl = wrap;
    core.handle(req).await
}

#[tokio::test]
async fn a_wrapped_token_unwraps_once() {
    let core = dev().await;
    let wrapped = call(
        &core,
        "root",
        Operation::Update,
        "auth/token/create",
        json!({"policies": ["app"]}),
        Some(120),
    )
    .await
    .unwrap();
    assert!(wrapped.auth.is_none() && wrapped.data.is_none(), "nothing but wrap_info leaves");
    let info = wrapped.wrap_info.unwrap();
    assert_eq!(info.ttl, 120);
    assert_eq!(info.creation_path, "auth/token/create");
    assert!(!info.wrapped_accessor.is_empty());
    let wrapping_token = info.token.expose().to_string();

    let looked = call(
        &core,
        "root",
        Operation::Update,
        "sys/wrapping/lookup",
        json!({"token": wrapping_token}),
        None,
    )
    .await
    .unwrap();
    assert_eq!(looked.data.unwrap()["creation_path"], "auth/token/create");
    // Rewrapping hands the same response to a new token (same TTL and path); the old one
    // stops working.
    let rewrapped = call(
        &core,
        "root",
        Operation::Update,
        "sys/wrapping/rewrap",
        json!({"token": wrapping_token}),
        None,
    )
    .await
    .unwrap()
    .wrap_info
    .unwrap();
    assert_eq!((rewrapped.ttl, rewrapped.creation_path.as_str()), (120, "auth/token/create"));
    let old = call(
        &core,
        "root",
        Operation::Update,
        "sys/wrapping/unwrap",
        json!({"token": wrapping_token}),
        None,
    )
    .await;
    assert_eq!(old.unwrap_err(), Error::invalid("wrapping token is not valid or does not exist"));
    let wrapping_token = rewrapped.token.expose().to_string();
    // Unwrap with the wrapping token itself as the caller's token.
    let unwrapped =
        call(&core, &wrapping_token, Operation::Update, "sys/wrapping/unwrap", json!({}), None)
            .await
            .unwrap();
    let auth = unwrapped.auth.unwrap();
    assert_eq!(auth.policies, vec!["app", "default"]);
    assert_eq!(auth.accessor, info.wrapped_accessor);
    let again = call(
        &core,
        "root",
        Operation::Update,
        "sys/wrapping/unwrap",
        json!({"token": wrapping_token}),
        None,
    )
    .await;
    assert_eq!(again.unwrap_err(), Error::invalid("wrapping token is not valid or does not exist"));
}

#[tokio::test]
async fn wrap_requires_the_header_and_cubbyholes_are_private() {
    let core = dev().await;
    let bare =
        call(&core, "root", Operation::Update, "sys/wrapping/wrap", json!({"a": "b"}), None).await;
    assert_eq!(bare.unwrap_err(), Error::invalid("endpoint requires response wrapping to be used"));
    let w =
        call(&core, "root", Operation::Update, "sys/wrapping/wrap", json!({"a": "b"}), Some(60))
            .await
            .unwrap();
    let t = w.wrap_info.unwrap().token.expose().to_string();
    let u =
        call(&core, "root", Operation::Update, "sys/wrapping/unwrap", json!({"token": t}), None)
            .await
            .unwrap();
    assert_eq!(u.data.unwrap()["a"], "b");

    let other = call(
        &core,
        "root",
        Operation::Update,
        "auth/token/create",
        json!({"policies": ["x"]}),
        None,
    )
    .await
    .unwrap();
    let other = other.auth.unwrap().client_token.expose().to_string();
    call(&core, "root", Operation::Update, "cubbyhole/note", json!({"v": "root's"}), None)
        .await
        .unwrap();
    call(&core, &other, Operation::Update, "cubbyhole/note", json!({"v": "other's"}), None)
        .await
        .unwrap();
    let mine =
        call(&core, "root", Operation::Read, "cubbyhole/note", json!({}), None).await.unwrap();
    assert_eq!(mine.data.unwrap()["v"], "root's");
    let theirs =
        call(&core, &other, Operation::Read, "cubbyhole/note", json!({}), None).await.unwrap();
    assert_eq!(theirs.data.unwrap()["v"], "other's");
    call(&core, "root", Operation::Update, "auth/token/revoke", json!({"token": other}), None)
        .await
        .unwrap();
    let again =
        call(&core, "root", Operation::Read, "cubbyhole/note", json!({}), None).await.unwrap();
    assert_eq!(again.data.unwrap()["v"], "root's", "revoking another token leaves mine");
}
