//! A view of a storage below a fixed prefix: what each mount sees.

use std::sync::Arc;

use async_trait::async_trait;

use crate::{SharedStorage, Storage, StorageError, WriteOp};

/// A storage restricted to the keys below `prefix`, which it strips and adds transparently.
#[derive(Clone)]
pub struct View {
    inner: SharedStorage,
    prefix: String,
}

impl View {
    /// A view of `inner` below `prefix` (which should end with `/`).
    pub fn new(inner: SharedStorage, prefix: impl Into<String>) -> Self {
        View { inner, prefix: prefix.into() }
    }

    /// A shared handle to this view.
    pub fn shared(self) -> SharedStorage {
        Arc::new(self)
    }

    /// The prefix of this view in the underlying storage.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    fn key(&self, key: &str) -> String {
        format!("{}{}", self.prefix, key)
    }
}

#[async_trait]
impl Storage for View {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        self.inner.get(&self.key(key)).await
    }

    async fn put(&self, key: &str, value: &[u8]) -> Result<(), StorageError> {
        self.inner.put(&self.key(key), value).await
    }

    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        self.inner.delete(&self.key(key)).await
    }

    async fn batch(&self, ops: Vec<WriteOp>) -> Result<(), StorageError> {
        let ops = ops
            .into_iter()
            .map(|op| match op {
                WriteOp::Put { key, value } => WriteOp::Put { key: self.key(&key), value },
                WriteOp::Delete { key } => WriteOp::Delete { key: self.key(&key) },
            })
            .collect();
        self.inner.batch(ops).await
    }

    async fn list_page(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: Option<usize>,
    ) -> Result<Vec<String>, StorageError> {
        self.inner.list_page(&self.key(prefix), after, limit).await
    }

    async fn delete_prefix(&self, prefix: &str) -> Result<(), StorageError> {
        self.inner.delete_prefix(&self.key(prefix)).await
    }
}
