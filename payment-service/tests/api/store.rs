//! The database crashing under the service: a MariaDB of this test's own (never the machine's
//! shared one) is killed with -9 and started again on the same data.
use crate::helpers::{authed, spawn_app_with};
use payment_service::proto::shop::{
    common::v1::Money,
    payment::v1::{ChargeRequest, OrderLine},
};
use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::Duration,
};
use tonic::Code;

/// A MariaDB server in a temporary folder, on its own port, with a `payment` login.
struct ThrowawayMariadb {
    dir: PathBuf,
    port: u16,
    server: Option<Child>,
}

impl ThrowawayMariadb {
    fn start() -> Self {
        let dir = std::env::temp_dir().join(format!("mariadb-test-{}", uuid::Uuid::now_v7().simple()));
        let installed = Command::new("mariadb-install-db")
            .args(["--no-defaults", "--user=root", "--auth-root-authentication-method=socket", "--skip-test-db"])
            .arg(format!("--datadir={}", dir.join("data").display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("mariadb-install-db runs (infra/local/install.sh installs mariadb-server)");
        assert!(installed.success(), "mariadb-install-db failed");
        let mut db = Self { dir, port: crate::helpers::free_port(), server: None };
        db.run();
        let sql = "CREATE DATABASE payment; CREATE USER 'payment'@'127.0.0.1' IDENTIFIED BY 'payment'; \
                   GRANT ALL PRIVILEGES ON payment.* TO 'payment'@'127.0.0.1';";
        let provisioned = Command::new("mariadb")
            .arg(format!("--socket={}", db.dir.join("sock").display()))
            .args(["-uroot", "-e", sql])
            .status()
            .unwrap();
        assert!(provisioned.success(), "provisioning the throwaway MariaDB failed");
        db
    }

    /// Starts the server on the folder's data and waits until it accepts connections.
    fn run(&mut self) {
        let server = Command::new("mariadbd")
            .args(["--no-defaults", "--user=root", "--bind-address=127.0.0.1", "--skip-log-bin"])
            .arg(format!("--datadir={}", self.dir.join("data").display()))
            .arg(format!("--port={}", self.port))
            .arg(format!("--socket={}", self.dir.join("sock").display()))
            .arg(format!("--pid-file={}", self.dir.join("mariadb.pid").display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mariadbd starts");
        self.server = Some(server);
        for _ in 0..300 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("the throwaway MariaDB did not listen on {}", self.port);
    }

    /// `kill -9`, as in a crash.
    fn crash(&mut self) {
        if let Some(mut server) = self.server.take() {
            let _ = server.kill();
            let _ = server.wait();
        }
    }

    fn url(&self) -> String {
        format!("mysql://payment:payment@127.0.0.1:{}/payment", self.port)
    }
}

impl Drop for ThrowawayMariadb {
    fn drop(&mut self) {
        self.crash();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn charge_request(key: &str) -> ChargeRequest {
    ChargeRequest {
        idempotency_key: key.to_owned(),
        order_id: format!("order-{key}"),
        amount: Some(Money { amount_minor: 1250, currency: "EUR".into() }),
        payment_token: "tok_visa".into(),
        lines: vec![OrderLine {
            product_id: uuid::Uuid::now_v7().to_string(),
            name: "Enamel mug".into(),
            quantity: 1,
            unit_price: Some(Money { amount_minor: 1250, currency: "EUR".into() }),
        }],
        ..Default::default()
    }
}

/// While the database is down calls are UNAVAILABLE (retry), not INTERNAL; once it is back
/// every call succeeds again: the connections that died with the server are replaced, not
/// handed out one failing request at a time for ever.
#[tokio::test]
async fn after_the_database_crashes_and_returns_calls_succeed_again() {
    let mut db = ThrowawayMariadb::start();
    let url = db.url();
    let app = spawn_app_with(|s| s.database.url = secrecy::SecretString::from(url)).await;
    app.wait_until_ready().await;
    let shopper = app.shopper();
    let mut client = app.payments().await;
    // Several connections in the pool, all opened before the crash.
    let before: Vec<_> = (0..8)
        .map(|n| {
            let (mut client, request) =
                (client.clone(), authed(charge_request(&format!("before-{n}")), &shopper.token));
            tokio::spawn(async move { client.charge(request).await })
        })
        .collect();
    for answer in before {
        answer.await.unwrap().unwrap();
    }

    db.crash();
    let down = client.charge(authed(charge_request("during"), &shopper.token)).await.unwrap_err();
    assert_eq!(down.code(), Code::Unavailable, "{down:?}");
    db.run();

    let mut recovered = false;
    for attempt in 0..100 {
        match client.charge(authed(charge_request(&format!("retry-{attempt}")), &shopper.token)).await {
            Ok(_) => {
                recovered = true;
                break;
            }
            Err(status) => assert_eq!(status.code(), Code::Unavailable, "{status:?}"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(recovered, "no charge succeeded within 10 s of the database's return");
    for n in 0..20 {
        client.charge(authed(charge_request(&format!("after-{n}")), &shopper.token)).await.unwrap();
    }
    app.wait_until_ready().await;
}
