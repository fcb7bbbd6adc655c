//! The adoptions database (the original's Postgres, spec §3.3) as a SQLite file in the demo's
//! state dir, shared by payforadoption, petlistadoptions and petadoptionshistory, each process
//! with its own connection (WAL mode, so readers never wait for the writer).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use rusqlite::Connection;

use crate::error::{DemoError, Result};

pub(crate) const DATABASE_FILE: &str = "petadoptions.sqlite";
/// The node name the SQL subsegments give the database: `database@host`, as the SDKs do.
pub(crate) const DATABASE_NODE: &str = "petadoptions@localhost";

pub(crate) const CREATE_TRANSACTIONS: &str = "CREATE TABLE IF NOT EXISTS transactions (id INTEGER PRIMARY KEY AUTOINCREMENT, pet_id TEXT, adoption_date TEXT, transaction_id TEXT)";
pub(crate) const CREATE_HISTORY: &str = "CREATE TABLE IF NOT EXISTS transactions_history (id INTEGER PRIMARY KEY AUTOINCREMENT, pet_id TEXT, adoption_date TEXT, transaction_id TEXT)";
pub(crate) const INSERT_TRANSACTION: &str =
    "INSERT INTO transactions (pet_id, transaction_id, adoption_date) VALUES (?1, ?2, ?3)";
pub(crate) const LIST_TRANSACTIONS: &str =
    "SELECT pet_id, transaction_id, adoption_date FROM transactions ORDER BY id DESC LIMIT 25";
pub(crate) const MOVE_TO_HISTORY: &str = "INSERT INTO transactions_history SELECT * FROM transactions";
pub(crate) const DELETE_TRANSACTIONS: &str = "DELETE FROM transactions";
pub(crate) const SELECT_HISTORY: &str = "SELECT * FROM transactions_history";
pub(crate) const DELETE_HISTORY: &str = "DELETE FROM transactions_history";

/// One adoption row as petlistadoptions reads it.
#[derive(Debug, Clone)]
pub(crate) struct Transaction {
    pub pet_id: String,
    pub transaction_id: String,
    pub adoption_date: String,
}

/// A connection, used from blocking threads.
#[derive(Debug, Clone)]
pub(crate) struct Database {
    connection: Arc<Mutex<Connection>>,
    path: PathBuf,
}

impl Database {
    /// Opens (creating) the database in `state_dir` with both tables.
    pub(crate) fn open(state_dir: &Path) -> Result<Database> {
        let path = state_dir.join(DATABASE_FILE);
        let connection = Connection::open(&path)?;
        connection.busy_timeout(Duration::from_secs(10))?;
        connection.pragma_update(None, "journal_mode", "WAL")?;
        connection.execute(CREATE_TRANSACTIONS, [])?;
        connection.execute(CREATE_HISTORY, [])?;
        Ok(Database { connection: Arc::new(Mutex::new(connection)), path })
    }

    /// The URL the SQL subsegments record.
    pub(crate) fn url(&self) -> String {
        format!("sqlite://localhost/{}", self.path.display())
    }

    /// Runs `work` on the connection in a blocking thread.
    pub(crate) async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T> {
        let connection = self.connection.clone();
        tokio::task::spawn_blocking(move || work(&connection.lock()))
            .await
            .map_err(|error| DemoError::Io { context: "sql worker".to_owned(), source: std::io::Error::other(error) })?
            .map_err(DemoError::from)
    }
}

pub(crate) fn insert_transaction(connection: &Connection, transaction: &Transaction) -> rusqlite::Result<usize> {
    connection
        .execute(INSERT_TRANSACTION, [&transaction.pet_id, &transaction.transaction_id, &transaction.adoption_date])
}

pub(crate) fn list_transactions(connection: &Connection) -> rusqlite::Result<Vec<Transaction>> {
    let mut statement = connection.prepare(LIST_TRANSACTIONS)?;
    let rows = statement.query_map([], |row| {
        Ok(Transaction { pet_id: row.get(0)?, transaction_id: row.get(1)?, adoption_date: row.get(2)? })
    })?;
    rows.collect()
}

/// `transactions_history` as JSON rows `[id, pet_id, adoption_date, transaction_id]`.
pub(crate) fn select_history(connection: &Connection) -> rusqlite::Result<Vec<serde_json::Value>> {
    let mut statement = connection.prepare(SELECT_HISTORY)?;
    let rows = statement.query_map([], |row| {
        let id: i64 = row.get(0)?;
        let pet_id: Option<String> = row.get(1)?;
        let date: Option<String> = row.get(2)?;
        let transaction: Option<String> = row.get(3)?;
        Ok(serde_json::json!([id, pet_id, date, transaction]))
    })?;
    rows.collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adoptions_move_to_history() {
        let dir = tempfile::tempdir().unwrap();
        let database = Database::open(dir.path()).unwrap();
        let connection = database.connection.lock();
        let adoption =
            Transaction { pet_id: "023".into(), transaction_id: "t".into(), adoption_date: "2026-12-04".into() };
        insert_transaction(&connection, &adoption).unwrap();
        assert_eq!(list_transactions(&connection).unwrap()[0].pet_id, "023");
        connection.execute(MOVE_TO_HISTORY, []).unwrap();
        connection.execute(DELETE_TRANSACTIONS, []).unwrap();
        assert!(list_transactions(&connection).unwrap().is_empty());
        assert_eq!(select_history(&connection).unwrap()[0][1], "023");
    }
}
