//! Read-only connections to the platform's stores, as `make setup` provisions them: auth and
//! product on PostgreSQL (each through its own login), payment on MariaDB.
use anyhow::Context;
use mysql_async::prelude::Queryable;

fn var(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

/// The databases to audit: `AUDIT_AUTH_DB`, `AUDIT_PRODUCT_DB`, `AUDIT_PAYMENT_DB`; servers
/// from `PGHOST`/`PGPORT` and `AUDIT_MYSQL_HOST`/`AUDIT_MYSQL_PORT`.
pub struct Stores {
    pub auth: tokio_postgres::Client,
    pub product: tokio_postgres::Client,
    pub payment: mysql_async::Conn,
}

async fn postgres(login: &str, database: &str) -> anyhow::Result<tokio_postgres::Client> {
    let config = format!(
        "host={} port={} user={login} password={login} dbname={database}",
        var("PGHOST", "127.0.0.1"),
        var("PGPORT", "5432")
    );
    let (client, connection) = tokio_postgres::connect(&config, tokio_postgres::NoTls)
        .await
        .with_context(|| format!("PostgreSQL database {database} (login {login})"))?;
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            eprintln!("audit: PostgreSQL connection: {error}");
        }
    });
    // Nothing here writes: make sure of it.
    client.batch_execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY").await?;
    Ok(client)
}

impl Stores {
    pub async fn connect() -> anyhow::Result<Self> {
        let auth = postgres("auth", &var("AUDIT_AUTH_DB", "auth")).await?;
        let product = postgres("product", &var("AUDIT_PRODUCT_DB", "product")).await?;
        let database = var("AUDIT_PAYMENT_DB", "payment");
        let options = mysql_async::OptsBuilder::default()
            .ip_or_hostname(var("AUDIT_MYSQL_HOST", "127.0.0.1"))
            .tcp_port(var("AUDIT_MYSQL_PORT", "3306").parse().context("AUDIT_MYSQL_PORT is not a port")?)
            .user(Some("payment"))
            .pass(Some("payment"))
            .db_name(Some(database.clone()));
        let mut payment = mysql_async::Conn::new(options)
            .await
            .with_context(|| format!("MariaDB database {database} (login payment)"))?;
        payment.query_drop("SET SESSION TRANSACTION READ ONLY").await?;
        Ok(Self { auth, product, payment })
    }
}
