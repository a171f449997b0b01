//! The conformance suite: the behaviour every [`Storage`](crate::Storage) must have, run
//! against every implementation (memory, SQLite, a [`View`](crate::View) over each, and the
//! barrier). Call [`run_all`] from a test inside a tokio runtime.
//!
//! Each check works below its own key prefix (`conformance/<check>/`) and clears it first, so
//! the suite can run against a store that holds other data, and run twice on the same store.
//! A failure panics with the name of the check and what differed.
//!
//! | check | what it pins down |
//! |---|---|
//! | [`roundtrip`] | get/put/delete, absent is `None`, empty value is not absent |
//! | [`overwrite`] | a put replaces the value |
//! | [`delete_absent`] | deleting a missing key succeeds |
//! | [`nested_listing`] | immediate children only, folders with `/`, sorted, deduplicated |
//! | [`pagination`] | `after`/`limit` pages concatenate to the full listing |
//! | [`batch_atomic`] | puts and deletes of one batch all apply, in order |
//! | [`delete_prefix`] | removes exactly one subtree |
//! | [`large_values`] | random values up to 1 MiB come back byte for byte |
//! | [`odd_keys`] | spaces, unicode, punctuation, emoji, high code points |
//! | [`concurrent_writers`] | 16 tasks x 50 writes, all present afterwards |
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::{SharedStorage, WriteOp};

/// Runs every check against `storage`; panics on the first failure.
pub async fn run_all(storage: SharedStorage) {
    roundtrip(&storage).await;
    overwrite(&storage).await;
    delete_absent(&storage).await;
    nested_listing(&storage).await;
    pagination(&storage).await;
    batch_atomic(&storage).await;
    delete_prefix(&storage).await;
    large_values(&storage).await;
    odd_keys(&storage).await;
    concurrent_writers(&storage).await;
}

/// Clears the prefix of `check` and returns it.
async fn fresh(s: &SharedStorage, check: &str) -> String {
    let base = format!("conformance/{check}/");
    s.delete_prefix(&base).await.unwrap_or_else(|e| panic!("{check}: delete_prefix: {e}"));
    assert_eq!(
        list(s, check, &base).await,
        Vec::<String>::new(),
        "{check}: not empty after clearing"
    );
    base
}

async fn get(s: &SharedStorage, check: &str, key: &str) -> Option<Vec<u8>> {
    s.get(key).await.unwrap_or_else(|e| panic!("{check}: get {key:?}: {e}"))
}

async fn put(s: &SharedStorage, check: &str, key: &str, value: &[u8]) {
    s.put(key, value).await.unwrap_or_else(|e| panic!("{check}: put {key:?}: {e}"));
}

async fn list(s: &SharedStorage, check: &str, prefix: &str) -> Vec<String> {
    s.list(prefix).await.unwrap_or_else(|e| panic!("{check}: list {prefix:?}: {e}"))
}

async fn page(
    s: &SharedStorage,
    check: &str,
    prefix: &str,
    after: Option<&str>,
    limit: Option<usize>,
) -> Vec<String> {
    s.list_page(prefix, after, limit)
        .await
        .unwrap_or_else(|e| panic!("{check}: list_page {prefix:?} after {after:?}: {e}"))
}

/// Put, get, delete; an absent key is `None`, an empty value is `Some(empty)`.
pub async fn roundtrip(s: &SharedStorage) {
    const CHECK: &str = "roundtrip";
    let base = fresh(s, CHECK).await;
    let key = format!("{base}key");
    assert_eq!(get(s, CHECK, &key).await, None, "{CHECK}: absent key");
    put(s, CHECK, &key, b"value").await;
    assert_eq!(get(s, CHECK, &key).await.as_deref(), Some(&b"value"[..]), "{CHECK}: after put");
    s.delete(&key).await.unwrap_or_else(|e| panic!("{CHECK}: delete: {e}"));
    assert_eq!(get(s, CHECK, &key).await, None, "{CHECK}: after delete");
    let empty = format!("{base}empty");
    put(s, CHECK, &empty, b"").await;
    assert_eq!(get(s, CHECK, &empty).await, Some(Vec::new()), "{CHECK}: empty value");
}

/// A second put replaces the first value and adds no entry.
pub async fn overwrite(s: &SharedStorage) {
    const CHECK: &str = "overwrite";
    let base = fresh(s, CHECK).await;
    let key = format!("{base}key");
    put(s, CHECK, &key, b"first, and longer").await;
    put(s, CHECK, &key, b"second").await;
    assert_eq!(get(s, CHECK, &key).await.as_deref(), Some(&b"second"[..]), "{CHECK}: value");
    assert_eq!(list(s, CHECK, &base).await, ["key"], "{CHECK}: listing");
}

/// Deleting a key that does not exist succeeds, twice.
pub async fn delete_absent(s: &SharedStorage) {
    const CHECK: &str = "delete_absent";
    let base = fresh(s, CHECK).await;
    for _ in 0..2 {
        s.delete(&format!("{base}never")).await.unwrap_or_else(|e| panic!("{CHECK}: {e}"));
    }
}

/// `a`, `a/b`, `a/b/c`, `a/d`: the root lists `a` and `a/`, `a/` lists `b`, `b/` and `d`.
pub async fn nested_listing(s: &SharedStorage) {
    const CHECK: &str = "nested_listing";
    let base = fresh(s, CHECK).await;
    for key in ["a", "a/b", "a/b/c", "a/d"] {
        put(s, CHECK, &format!("{base}{key}"), key.as_bytes()).await;
    }
    assert_eq!(list(s, CHECK, &base).await, ["a", "a/"], "{CHECK}: root");
    assert_eq!(list(s, CHECK, &format!("{base}a/")).await, ["b", "b/", "d"], "{CHECK}: a/");
    assert_eq!(list(s, CHECK, &format!("{base}a/b/")).await, ["c"], "{CHECK}: a/b/");
    assert!(list(s, CHECK, &format!("{base}zz/")).await.is_empty(), "{CHECK}: absent folder");
    assert!(list(s, CHECK, &format!("{base}a/d/")).await.is_empty(), "{CHECK}: leaf as folder");
    let top = list(s, CHECK, "conformance/").await;
    assert!(top.contains(&format!("{CHECK}/")), "{CHECK}: conformance/ lists {top:?}");
}

/// 100 leaves and 34 folders paged 7 at a time give back the full listing, in order.
pub async fn pagination(s: &SharedStorage) {
    const CHECK: &str = "pagination";
    let base = fresh(s, CHECK).await;
    let mut expected = Vec::new();
    let mut ops = Vec::new();
    for i in 0..100 {
        let name = format!("k{i:03}");
        ops.push(WriteOp::Put { key: format!("{base}{name}"), value: vec![1] });
        expected.push(name.clone());
        if i % 3 == 0 {
            // A folder sharing the leaf's name, with a deep subtree to skip.
            for deep in ["x", "y/z", "y/zz/zzz"] {
                ops.push(WriteOp::Put { key: format!("{base}{name}/{deep}"), value: vec![2] });
            }
            expected.push(format!("{name}/"));
        }
    }
    s.batch(ops).await.unwrap_or_else(|e| panic!("{CHECK}: batch: {e}"));
    assert_eq!(list(s, CHECK, &base).await, expected, "{CHECK}: full listing");

    let mut collected: Vec<String> = Vec::new();
    loop {
        let after = collected.last().cloned();
        let got = page(s, CHECK, &base, after.as_deref(), Some(7)).await;
        assert!(got.len() <= 7, "{CHECK}: page of {} after {after:?}", got.len());
        if got.is_empty() {
            break;
        }
        collected.extend(got);
    }
    assert_eq!(collected, expected, "{CHECK}: pages concatenated");

    assert!(page(s, CHECK, &base, None, Some(0)).await.is_empty(), "{CHECK}: limit 0");
    let last = expected.last().map(String::as_str);
    assert!(page(s, CHECK, &base, last, None).await.is_empty(), "{CHECK}: after the last");
    assert_eq!(
        page(s, CHECK, &base, Some("k051/"), Some(2)).await,
        ["k052", "k053"],
        "{CHECK}: after a folder"
    );
    assert_eq!(
        page(s, CHECK, &base, Some("k051"), Some(2)).await,
        ["k051/", "k052"],
        "{CHECK}: after a leaf"
    );
    assert_eq!(
        page(s, CHECK, &base, Some("k0505"), Some(1)).await,
        ["k051"],
        "{CHECK}: after an absent name"
    );
    assert_eq!(
        page(s, CHECK, &base, Some("a"), Some(1)).await,
        ["k000"],
        "{CHECK}: after before all"
    );
}

/// One batch puts two keys and deletes a third; ops of a batch apply in order.
pub async fn batch_atomic(s: &SharedStorage) {
    const CHECK: &str = "batch_atomic";
    let base = fresh(s, CHECK).await;
    let key = |name: &str| format!("{base}{name}");
    put(s, CHECK, &key("old"), b"old").await;
    let ops = vec![
        WriteOp::Put { key: key("a"), value: b"A".to_vec() },
        WriteOp::Delete { key: key("old") },
        WriteOp::Put { key: key("b"), value: b"B".to_vec() },
        WriteOp::Put { key: key("gone"), value: b"x".to_vec() },
        WriteOp::Delete { key: key("gone") },
        WriteOp::Delete { key: key("back") },
        WriteOp::Put { key: key("back"), value: b"again".to_vec() },
        WriteOp::Delete { key: key("absent") },
    ];
    s.batch(ops).await.unwrap_or_else(|e| panic!("{CHECK}: batch: {e}"));
    s.batch(Vec::new()).await.unwrap_or_else(|e| panic!("{CHECK}: empty batch: {e}"));
    assert_eq!(list(s, CHECK, &base).await, ["a", "b", "back"], "{CHECK}: keys");
    assert_eq!(get(s, CHECK, &key("a")).await.as_deref(), Some(&b"A"[..]), "{CHECK}: a");
    assert_eq!(get(s, CHECK, &key("b")).await.as_deref(), Some(&b"B"[..]), "{CHECK}: b");
    assert_eq!(get(s, CHECK, &key("back")).await.as_deref(), Some(&b"again"[..]), "{CHECK}: back");
    assert_eq!(get(s, CHECK, &key("old")).await, None, "{CHECK}: old");
}

/// `delete_prefix("gone/")` keeps `gone`, `gone0` and `keep`; a prefix ending in a high code
/// point removes exactly the keys starting with it.
pub async fn delete_prefix(s: &SharedStorage) {
    const CHECK: &str = "delete_prefix";
    let base = fresh(s, CHECK).await;
    for key in [
        "keep", "gone", "gone/1", "gone/2/3", "gone0", "x\u{ff}a", "x\u{ff}", "x\u{100}", "x\u{7f}",
    ] {
        put(s, CHECK, &format!("{base}{key}"), b"v").await;
    }
    s.delete_prefix(&format!("{base}gone/")).await.unwrap_or_else(|e| panic!("{CHECK}: {e}"));
    s.delete_prefix(&format!("{base}x\u{ff}")).await.unwrap_or_else(|e| panic!("{CHECK}: {e}"));
    let expected = ["gone", "gone0", "keep", "x\u{7f}", "x\u{100}"];
    assert_eq!(list(s, CHECK, &base).await, expected, "{CHECK}: what is left");
    assert_eq!(get(s, CHECK, &format!("{base}gone/2/3")).await, None, "{CHECK}: deep key");
    s.delete_prefix(&format!("{base}nothing/")).await.unwrap_or_else(|e| panic!("{CHECK}: {e}"));
    assert_eq!(list(s, CHECK, &base).await.len(), expected.len(), "{CHECK}: absent prefix");
}

/// Random values of 0 bytes to exactly 1 MiB come back unchanged.
pub async fn large_values(s: &SharedStorage) {
    const CHECK: &str = "large_values";
    let base = fresh(s, CHECK).await;
    // xorshift64: deterministic, incompressible enough, no dependency.
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    for size in [0, 1, 255, 4096, 65_537, 1 << 20] {
        let value: Vec<u8> = (0..size)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state.to_le_bytes()[0]
            })
            .collect();
        let key = format!("{base}{size}");
        put(s, CHECK, &key, &value).await;
        let back = get(s, CHECK, &key).await.unwrap_or_else(|| panic!("{CHECK}: {size} missing"));
        assert!(back == value, "{CHECK}: value of {size} bytes differs (got {} bytes)", back.len());
    }
}

/// Keys with spaces, unicode, URL punctuation, quotes, emoji and high code points roundtrip
/// and list in byte order, also as folder names and as list prefixes.
pub async fn odd_keys(s: &SharedStorage) {
    const CHECK: &str = "odd_keys";
    let base = fresh(s, CHECK).await;
    let names = [
        "with space",
        " leading",
        "trailing ",
        "ünïcødé",
        "日本語",
        "100%",
        "%2F",
        "what?",
        "a&b=c",
        "#hash",
        "dq\"uote",
        "sq'uote",
        "back\\slash",
        "emoji🔐",
        "tab\tnew\nline",
        "\u{7f}",
        "\u{ff}",
        "\u{ff}\u{ff}",
        "\u{fffd}",
        "\u{ffff}",
        "\u{10ffff}",
        "dot.",
        "dots..",
        ".",
        "..",
        "*",
        "-",
        "~",
    ];
    for (i, name) in names.iter().enumerate() {
        put(s, CHECK, &format!("{base}{name}"), &i.to_le_bytes()).await;
    }
    for (i, name) in names.iter().enumerate() {
        let got = get(s, CHECK, &format!("{base}{name}")).await;
        assert_eq!(got, Some(i.to_le_bytes().to_vec()), "{CHECK}: value of {name:?}");
    }
    let mut sorted: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    sorted.sort();
    assert_eq!(list(s, CHECK, &base).await, sorted, "{CHECK}: listing");

    // Odd folder names, and list prefixes that do not end in `/`.
    let deep = format!("{base}dir ü?#/");
    for name in ["x", "y\u{ff}/z", "🔐/1", "🔐/2"] {
        put(s, CHECK, &format!("{deep}{name}"), b"v").await;
    }
    assert_eq!(list(s, CHECK, &deep).await, ["x", "y\u{ff}/", "🔐/"], "{CHECK}: odd folder");
    assert_eq!(list(s, CHECK, &format!("{deep}🔐/")).await, ["1", "2"], "{CHECK}: emoji folder");
    let sorted_after = |p: &str| {
        sorted
            .iter()
            .filter_map(|n| n.strip_prefix(p))
            .filter(|n| !n.is_empty())
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    for stem in ["\u{ff}", "\u{7f}", "dot", "\u{10ffff}"] {
        let got = list(s, CHECK, &format!("{base}{stem}")).await;
        assert_eq!(got, sorted_after(stem), "{CHECK}: list of the stem {stem:?}");
    }
}

/// 16 tasks write 50 keys each at the same time; every value is there afterwards.
pub async fn concurrent_writers(s: &SharedStorage) {
    const CHECK: &str = "concurrent_writers";
    const TASKS: usize = 16;
    const WRITES: usize = 50;
    let base = fresh(s, CHECK).await;
    let mut handles = Vec::new();
    for t in 0..TASKS {
        let s = s.clone();
        let base = base.clone();
        handles.push(tokio::spawn(async move {
            for i in 0..WRITES {
                let key = format!("{base}t{t:02}/{i:02}");
                s.put(&key, format!("{t}-{i}").as_bytes())
                    .await
                    .unwrap_or_else(|e| panic!("{CHECK}: put {key:?}: {e}"));
            }
        }));
    }
    for handle in handles {
        handle.await.unwrap_or_else(|e| panic!("{CHECK}: writer task: {e}"));
    }
    assert_eq!(list(s, CHECK, &base).await.len(), TASKS, "{CHECK}: folders");
    for t in 0..TASKS {
        let folder = format!("{base}t{t:02}/");
        assert_eq!(list(s, CHECK, &folder).await.len(), WRITES, "{CHECK}: keys of {folder:?}");
        for i in 0..WRITES {
            let got = get(s, CHECK, &format!("{folder}{i:02}")).await;
            assert_eq!(got, Some(format!("{t}-{i}").into_bytes()), "{CHECK}: t{t:02}/{i:02}");
        }
    }
}
