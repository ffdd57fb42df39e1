//! The runtime built from a validated config: migrated databases with open stores, models, and
//! ready-to-run agents. One generation of the config; the server's reload path will swap it.

use std::collections::HashMap;

use crate::agent::Agent;
use crate::config::{Config, DatabaseConfig};
use crate::migrate::{self, MigrateError};
use crate::model::Model;
use crate::store::{Store, StoreError};
use crate::tool::Toolbox;

/// What building a runtime can fail with.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// A database could not be migrated.
    #[error(transparent)]
    Migrate(#[from] MigrateError),
    /// A database could not be opened.
    #[error("database `{db}`: {source}")]
    Store {
        /// Database id.
        db: String,
        /// Why.
        source: StoreError,
    },
}

/// Databases, models and agents of one config.
#[derive(Debug)]
pub struct Runtime {
    config: Config,
    stores: HashMap<String, Store>,
    models: HashMap<String, Model>,
}

impl Runtime {
    /// Opens (and, unless `migrate` is false, first migrates) the databases the config uses.
    /// `progress` hears about each migration applied.
    pub async fn start(
        config: Config,
        migrate: bool,
        progress: &mut (dyn FnMut(&DatabaseConfig, migrate::Event) + Send),
    ) -> Result<Runtime, RuntimeError> {
        let mut stores = HashMap::new();
        for db in config.databases.values() {
            if migrate {
                migrate::apply(db, &migrate::Options::default(), &mut |e| progress(db, e)).await?;
            }
            let store = Store::open(db).await.map_err(|source| RuntimeError::Store { db: db.id.clone(), source })?;
            stores.insert(db.id.clone(), store);
        }
        let models = config
            .models
            .iter()
            .map(|(id, m)| (id.clone(), Model::new(id, m, config.key_hints.get(id).map(String::as_str))))
            .collect();
        Ok(Runtime { config, stores, models })
    }

    /// The config this runtime was built from.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The store of a database.
    pub fn store(&self, db: &str) -> Option<&Store> {
        self.stores.get(db)
    }

    /// The agent `id`, ready to run.
    pub fn agent(&self, id: &str) -> Option<Agent> {
        let config = self.config.agents.get(id)?.clone();
        let model = self.models.get(&config.model)?.clone();
        let store = self.stores.get(&config.db)?.clone();
        let tools = Toolbox::for_agent(&config);
        Some(Agent { config, model, store, tools })
    }
}
