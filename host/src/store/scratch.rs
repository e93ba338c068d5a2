//! A PostgreSQL schema of its own, for a test or a benchmark that needs a real
//! PostgreSQL without touching anything else in the database: created with a unique
//! name, reached through a URL that sets `search_path`, dropped afterwards.

use sqlx::Connection as _;

/// The PostgreSQL of a development machine (trust auth, database `test`).
pub const LOCAL_POSTGRES: &str = "postgres://postgres@127.0.0.1:5432/test";

/// A schema created for one run.
#[derive(Debug)]
pub struct ScratchSchema {
    pub name: String,
    /// The store URL that uses the schema.
    pub url: String,
    server: String,
}

impl ScratchSchema {
    /// Creates `{prefix}_{random}` on the server at `server`; an error if no server
    /// answers (the caller decides whether that skips).
    pub async fn create(server: &str, prefix: &str) -> Result<Self, sqlx::Error> {
        let mut admin = sqlx::PgConnection::connect(server).await?;
        let name = format!("{prefix}_{}", uuid::Uuid::new_v4().simple());
        sqlx::query(&format!("CREATE SCHEMA {name}"))
            .execute(&mut admin)
            .await?;
        let sep = if server.contains('?') { '&' } else { '?' };
        Ok(Self {
            url: format!("{server}{sep}options=-c%20search_path%3D{name}"),
            name,
            server: server.to_owned(),
        })
    }

    /// Drops the schema and everything in it.
    pub async fn drop(self) -> Result<(), sqlx::Error> {
        let mut admin = sqlx::PgConnection::connect(&self.server).await?;
        sqlx::query(&format!("DROP SCHEMA {} CASCADE", self.name))
            .execute(&mut admin)
            .await?;
        Ok(())
    }
}
