//! Objects under a location given as a URL: a local directory, or `s3://bucket/prefix` with
//! credentials, region and endpoint from the usual `AWS_*` environment variables
//! (`AWS_ENDPOINT_URL` and `AWS_ALLOW_HTTP=true` for a local server). Whole objects are written
//! and read with blocking calls: `object_store` is async, and a current-thread runtime of each
//! [`Objects`] drives it.

use std::sync::Arc;

use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::prefix::PrefixStore;
use object_store::{ObjectStore, ObjectStoreExt as _, PutPayload};

/// An object location that can't be used.
#[derive(Debug, thiserror::Error)]
pub enum ObjectsError {
    /// The URL has a scheme other than `s3://`.
    #[error("`{url}` is neither a directory nor an `s3://bucket/prefix` URL")]
    Scheme { url: String },
    /// A local directory whose absolute path can't be found.
    #[error("cannot use the directory `{url}`")]
    Directory {
        url: String,
        #[source]
        source: std::io::Error,
    },
    /// The object store could not be set up from the URL and the environment.
    #[error("cannot use `{url}`")]
    Open {
        url: String,
        #[source]
        source: ObjectStoreError,
    },
    /// The runtime that drives the object store could not start.
    #[error("cannot start the runtime for `{url}`")]
    Runtime {
        url: String,
        #[source]
        source: std::io::Error,
    },
    /// Writing, reading, listing or deleting an object failed.
    #[error("cannot {action} `{name}` in `{url}`")]
    Object {
        /// What was being done: `write`, `read`, `list` or `delete`.
        action: &'static str,
        name: String,
        url: String,
        #[source]
        source: ObjectStoreError,
    },
}

/// An `object_store` error as the end of an error chain: its message already tells its causes,
/// which its `source()` would tell again.
#[derive(Debug)]
pub struct ObjectStoreError(Box<object_store::Error>);

impl std::fmt::Display for ObjectStoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for ObjectStoreError {}

/// An object as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub name: String,
    pub size: u64,
    /// Changes whenever the object does (a local file: its inode, size and modification time).
    pub e_tag: Option<String>,
}

/// The objects under one location.
pub struct Objects {
    store: Arc<dyn ObjectStore>,
    url: String,
    runtime: tokio::runtime::Runtime,
}

impl std::fmt::Debug for Objects {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Objects").field("url", &self.url).finish()
    }
}

impl Objects {
    /// The objects under `url`: `s3://bucket/prefix`, or a directory (made by the first
    /// write).
    pub fn open(url: &str) -> Result<Objects, ObjectsError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|source| ObjectsError::Runtime {
                url: url.to_owned(),
                source,
            })?;
        let open = |source| ObjectsError::Open {
            url: url.to_owned(),
            source: ObjectStoreError(Box::new(source)),
        };
        let (store, url): (Arc<dyn ObjectStore>, String) = match url.split_once("://") {
            Some(("s3", rest)) => {
                let url = format!("s3://{}", rest.trim_end_matches('/'));
                let bucket = AmazonS3Builder::from_env()
                    .with_url(url.as_str())
                    .build()
                    .map_err(open)?;
                let prefix = rest.split_once('/').map_or("", |(_, prefix)| prefix);
                (Arc::new(PrefixStore::new(bucket, prefix)), url)
            }
            Some(_) => {
                return Err(ObjectsError::Scheme {
                    url: url.to_owned(),
                });
            }
            None => {
                let absolute =
                    std::path::absolute(url).map_err(|source| ObjectsError::Directory {
                        url: url.to_owned(),
                        source,
                    })?;
                let absolute: std::path::PathBuf = absolute.components().collect();
                let prefix =
                    ObjectPath::from_absolute_path(&absolute).map_err(|e| open(e.into()))?;
                let local = PrefixStore::new(LocalFileSystem::new(), prefix);
                (Arc::new(local), absolute.display().to_string())
            }
        };
        Ok(Objects {
            store,
            url,
            runtime,
        })
    }

    /// The location as it is recorded: an absolute directory, or `s3://bucket/prefix`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Writes `bytes` as the object `name`, whole or not at all.
    pub fn put(&self, name: &str, bytes: Vec<u8>) -> Result<(), ObjectsError> {
        let location = ObjectPath::from(name);
        self.runtime
            .block_on(self.store.put(&location, PutPayload::from(bytes)))
            .map(drop)
            .map_err(self.failed("write", name))
    }

    /// The bytes of the object `name`; none when there is no such object.
    pub fn get(&self, name: &str) -> Result<Option<Vec<u8>>, ObjectsError> {
        let location = ObjectPath::from(name);
        let read = self.runtime.block_on(async {
            let object = self.store.get(&location).await?;
            object.bytes().await
        });
        match read {
            Ok(bytes) => Ok(Some(bytes.to_vec())),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(source) => Err(self.failed("read", name)(source)),
        }
    }

    /// The names of the objects under `prefix`, sorted.
    pub fn list(&self, prefix: &str) -> Result<Vec<String>, ObjectsError> {
        Ok(self
            .listed(prefix)?
            .into_iter()
            .map(|object| object.name)
            .collect())
    }

    /// The objects under `prefix`, sorted by name, with their size and entity tag.
    pub fn listed(&self, prefix: &str) -> Result<Vec<Listed>, ObjectsError> {
        let location = ObjectPath::from(prefix);
        let mut objects = Vec::new();
        let mut directories = vec![location];
        while let Some(directory) = directories.pop() {
            let listed = self
                .runtime
                .block_on(self.store.list_with_delimiter(Some(&directory)))
                .map_err(self.failed("list", prefix))?;
            objects.extend(listed.objects.into_iter().map(|o| Listed {
                name: o.location.to_string(),
                size: o.size,
                e_tag: o.e_tag,
            }));
            directories.extend(listed.common_prefixes);
        }
        objects.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(objects)
    }

    /// Deletes the object `name`; deleting one that does not exist is not an error.
    pub fn delete(&self, name: &str) -> Result<(), ObjectsError> {
        let location = ObjectPath::from(name);
        match self.runtime.block_on(self.store.delete(&location)) {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(source) => Err(self.failed("delete", name)(source)),
        }
    }

    /// The error of `action` on the object `name`.
    fn failed(
        &self,
        action: &'static str,
        name: &str,
    ) -> impl FnOnce(object_store::Error) -> ObjectsError {
        let (name, url) = (name.to_owned(), self.url.clone());
        move |source| ObjectsError::Object {
            action,
            name,
            url,
            source: ObjectStoreError(Box::new(source)),
        }
    }
}

/// The SHA-256 of `bytes`, in hex: how an object written is checked when read back.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest as _, Sha256};
    Sha256::digest(bytes)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_holds_objects_by_name_and_is_made_by_the_first_write() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("archive");
        let objects = Objects::open(&format!("{}/", root.display())).unwrap();
        assert_eq!(objects.url(), root.to_str().unwrap());
        assert_eq!(objects.list("").unwrap(), Vec::<String>::new());
        assert_eq!(
            objects.get("day=2026-01-02/events-0.parquet").unwrap(),
            None
        );
        assert!(!root.exists());
        objects
            .put("day=2026-01-02/events-0.parquet", b"abc".to_vec())
            .unwrap();
        objects
            .put("day=2026-01-03/events-0.parquet", b"d".to_vec())
            .unwrap();
        assert!(root.join("day=2026-01-02/events-0.parquet").is_file());
        assert_eq!(
            objects.get("day=2026-01-02/events-0.parquet").unwrap(),
            Some(b"abc".to_vec())
        );
        assert_eq!(
            objects.get("day=2026-01-04/events-0.parquet").unwrap(),
            None
        );
        assert_eq!(
            objects.list("").unwrap(),
            [
                "day=2026-01-02/events-0.parquet",
                "day=2026-01-03/events-0.parquet"
            ]
        );
        objects.delete("day=2026-01-03/events-0.parquet").unwrap();
        objects.delete("day=2026-01-03/events-0.parquet").unwrap();
        assert_eq!(
            objects.list("day=2026-01-03").unwrap(),
            Vec::<String>::new()
        );
    }

    #[test]
    fn an_unknown_scheme_is_refused() {
        assert!(matches!(
            Objects::open("gs://bucket/prefix"),
            Err(ObjectsError::Scheme { .. })
        ));
    }
}
