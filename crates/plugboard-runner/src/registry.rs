//! The set of connectors a program can use: built-ins and plugins, by id.
//!
//! Loading is forgiving per file and strict per id: a broken plugin is reported and skipped while
//! the others load, and a second connector with an id already taken is refused rather than
//! silently shadowing the first. Only when the user asks ([`Registry::prefer_plugins`]) does a
//! plugin replace the built-in of its id: how an author tries the plugin build of a connector
//! that is also built in.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use plugboard_core::{Connector, Manifest, builtin_registrations};

use crate::plugins::{LoadError, is_library_file, load_plugin};

/// Where a connector came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectorSource {
    /// Linked into this program.
    BuiltIn,
    /// Loaded from a plugin file.
    Plugin(PathBuf),
}

impl fmt::Display for ConnectorSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BuiltIn => f.write_str("built in"),
            Self::Plugin(path) => write!(f, "plugin {}", path.display()),
        }
    }
}

/// A connector and where it came from.
#[derive(Clone)]
pub struct RegisteredConnector {
    /// The connector.
    pub connector: Arc<dyn Connector>,
    /// Its origin.
    pub source: ConnectorSource,
}

impl RegisteredConnector {
    /// The connector's manifest.
    pub fn manifest(&self) -> &Manifest {
        self.connector.manifest()
    }
}

/// Connectors by id, in the order they were added.
#[derive(Default, Clone)]
pub struct Registry {
    connectors: Vec<RegisteredConnector>,
    /// Whether a plugin replaces the built-in of the same id instead of being refused.
    plugins_replace_builtins: bool,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every connector linked into this program. Two built-ins with one id are a build mistake;
    /// the first wins and the error says so.
    pub fn with_builtins() -> (Self, Vec<LoadError>) {
        let mut registry = Self::new();
        let mut problems = Vec::new();
        for registration in builtin_registrations() {
            let connector: Arc<dyn Connector> = Arc::from((registration.build)());
            if let Err(problem) = registry.add(connector, ConnectorSource::BuiltIn) {
                problems.push(problem);
            }
        }
        (registry, problems)
    }

    /// From now on, a plugin whose id a built-in has replaces that built-in (a second plugin of
    /// one id is still refused).
    pub fn prefer_plugins(&mut self) {
        self.plugins_replace_builtins = true;
    }

    /// Adds a connector unless its id is taken (see [`Registry::prefer_plugins`]).
    pub fn add(
        &mut self,
        connector: Arc<dyn Connector>,
        source: ConnectorSource,
    ) -> Result<&RegisteredConnector, LoadError> {
        let id = connector.manifest().id.clone();
        let path = || match &source {
            ConnectorSource::Plugin(path) => path.clone(),
            ConnectorSource::BuiltIn => PathBuf::from("(built in)"),
        };
        let manifest = connector.manifest();
        let problem = (manifest.methods.iter())
            .find_map(|m| {
                m.poll_cursor_problem()
                    .or_else(|| m.cost_problem(&manifest.methods))
            })
            .or_else(|| manifest.check_problem());
        if let Some(problem) = problem {
            return Err(LoadError::InvalidMethod {
                path: path(),
                id,
                problem,
            });
        }
        let existing = self.connectors.iter().position(|c| c.manifest().id == id);
        if let Some(at) = existing
            && self.plugins_replace_builtins
            && self.connectors[at].source == ConnectorSource::BuiltIn
            && matches!(source, ConnectorSource::Plugin(_))
        {
            tracing::info!(connector = %id, %source, "a plugin replaces the built-in");
            self.connectors[at] = RegisteredConnector { connector, source };
            return Ok(&self.connectors[at]);
        }
        if let Some(existing) = self.get(&id) {
            return Err(LoadError::DuplicateId {
                path: match source {
                    ConnectorSource::Plugin(path) => path,
                    ConnectorSource::BuiltIn => PathBuf::from("(built in)"),
                },
                id,
                existing: existing.source.to_string(),
            });
        }
        self.connectors
            .push(RegisteredConnector { connector, source });
        Ok(self.connectors.last().expect("just pushed"))
    }

    /// Loads one plugin file.
    pub fn load_plugin_file(&mut self, path: &Path) -> Result<&RegisteredConnector, LoadError> {
        let connector = load_plugin(path)?;
        self.add(
            Arc::new(connector),
            ConnectorSource::Plugin(path.to_owned()),
        )
    }

    /// Loads every shared library in `dir` (not recursively, in file-name order) and returns the
    /// problems; the plugins that load are added whatever happens to the others.
    pub fn load_plugin_dir(&mut self, dir: &Path) -> Vec<LoadError> {
        let entries = match std::fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(source) => {
                return vec![LoadError::Directory {
                    path: dir.to_owned(),
                    source,
                }];
            }
        };
        let mut files: Vec<PathBuf> = entries
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|path| is_library_file(path))
            .collect();
        files.sort();
        files
            .iter()
            .filter_map(|path| self.load_plugin_file(path).err())
            .collect()
    }

    /// The connector with this id.
    pub fn get(&self, id: &str) -> Option<&RegisteredConnector> {
        self.connectors.iter().find(|c| c.manifest().id == id)
    }

    /// Every connector, in load order.
    pub fn iter(&self) -> impl Iterator<Item = &RegisteredConnector> {
        self.connectors.iter()
    }

    /// Whether no connector is registered.
    pub fn is_empty(&self) -> bool {
        self.connectors.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use plugboard_core::{
        AuthSpec, ConnectorDefinition, ConnectorError, Context, DefinedConnector, MethodSet, input,
        method,
    };

    use super::*;

    /// What the poll methods below take.
    #[input]
    struct Since {
        /// The previous poll's cursor.
        cursor: Option<String>,
    }

    /// What they return.
    #[derive(serde::Serialize, schemars::JsonSchema)]
    struct Changes {
        /// The cursor for the next poll.
        next_cursor: Option<String>,
    }

    /// Polls with a cursor its input has.
    #[method(id = "things.poll", name = "Poll", poll(cursor = "cursor", next = "next_cursor"))]
    fn good(_: &mut Context<'_>, input: Since) -> Result<Changes, ConnectorError> {
        Ok(Changes {
            next_cursor: input.cursor,
        })
    }

    /// Declares a cursor field its input lacks.
    #[method(id = "things.poll_typo", name = "Poll", poll(cursor = "cursr", next = "next_cursor"))]
    fn typo(_: &mut Context<'_>, input: Since) -> Result<Changes, ConnectorError> {
        Ok(Changes {
            next_cursor: input.cursor,
        })
    }

    macro_rules! connector {
        ($name:ident, $id:literal, $($method:ident),+) => {
            struct $name;
            impl ConnectorDefinition for $name {
                type Settings = ();
                const ID: &'static str = $id;
                const NAME: &'static str = "Polls";
                const VERSION: &'static str = "0.0.0";
                const DESCRIPTION: &'static str = "Polls for things.";
                const BASE_URL: &'static str = "http://127.0.0.1:9";
                fn auth() -> AuthSpec {
                    AuthSpec::None
                }
                fn methods() -> MethodSet {
                    MethodSet::new()$(.method::<$method>())+
                }
            }
        };
    }
    connector!(Good, "good-polls", good);
    connector!(Typo, "typo-polls", good, typo);

    #[test]
    fn a_declared_poll_cursor_is_in_the_descriptor() {
        let mut registry = Registry::new();
        let added = registry
            .add(
                Arc::new(DefinedConnector::new::<Good>()),
                ConnectorSource::BuiltIn,
            )
            .expect("a declaration its schemas agree with is accepted");
        let cursor = added
            .manifest()
            .method("things.poll")
            .and_then(|m| m.poll_cursor.clone())
            .expect("declared");
        assert_eq!(
            (cursor.input.as_str(), cursor.output.as_str()),
            ("cursor", "next_cursor")
        );
    }

    #[test]
    fn a_poll_cursor_the_input_schema_lacks_is_refused_at_registration() {
        let mut registry = Registry::new();
        let error = registry
            .add(
                Arc::new(DefinedConnector::new::<Typo>()),
                ConnectorSource::BuiltIn,
            )
            .map(|_| ())
            .expect_err("refused");
        let text = error.to_string();
        assert!(text.contains("`typo-polls`"), "{text}");
        assert!(text.contains("`things.poll_typo`"), "{text}");
        assert!(text.contains("input field `cursr`"), "{text}");
        assert!(registry.get("typo-polls").is_none(), "not registered");
    }
}
