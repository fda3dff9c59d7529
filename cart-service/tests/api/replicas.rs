//! Calls balanced over replicas (`upstream`): three in-process gRPC servers stand in for
//! product's replicas on loopback; cart's balanced channel must spread calls over all of them,
//! bring in a fourth that starts later, and lose no call when one of them dies.
use cart_service::{
    configuration::Settings,
    metrics::Metrics,
    proto::shop::product::v1::{
        product_service_server::{ProductService, ProductServiceServer},
        GetProductRequest, GetProductResponse, Product,
    },
    upstream::Upstream,
};
use std::{
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};
use tonic::{Request, Response, Status};

/// The product id a replica answers UNAVAILABLE for, as an overloaded server would.
const OVERLOADED: &str = "overloaded";

/// Answers GetProduct and counts the calls it answered.
struct Counting(Arc<AtomicUsize>);

#[tonic::async_trait]
impl ProductService for Counting {
    async fn get_product(&self, request: Request<GetProductRequest>) -> Result<Response<GetProductResponse>, Status> {
        self.0.fetch_add(1, Ordering::SeqCst);
        let product_id = request.into_inner().product_id;
        if product_id == OVERLOADED {
            return Err(Status::unavailable("overloaded"));
        }
        let product = Product { product_id, ..Default::default() };
        Ok(Response::new(GetProductResponse { product: Some(product) }))
    }
}

/// One replica: a gRPC server on its own runtime, so `crash` ends its listener and every
/// connection at once, as a killed process would.
struct Replica {
    port: u16,
    answered: Arc<AtomicUsize>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Replica {
    fn start(port: u16) -> Self {
        Self::start_on(reserve(port))
    }

    /// Starts listening on a socket bound earlier (`reserve`), so no other test can take the port
    /// meanwhile.
    fn start_on(socket: tokio::net::TcpSocket) -> Self {
        let port = socket.local_addr().unwrap().port();
        let answered = Arc::new(AtomicUsize::new(0));
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let service = ProductServiceServer::new(Counting(Arc::clone(&answered)));
        runtime.spawn(async move {
            let incoming = tonic::transport::server::TcpIncoming::from(socket.listen(128)?);
            tonic::transport::Server::builder().add_service(service).serve_with_incoming(incoming).await?;
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
        });
        Self { port, answered, runtime: Some(runtime) }
    }

    fn answered(&self) -> usize {
        self.answered.load(Ordering::SeqCst)
    }

    fn crash(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.crash();
    }
}

/// A socket bound to `port` (0: any) and not listening yet: connections to it are refused until
/// a replica starts on it, and no other test can take its port meanwhile.
fn reserve(port: u16) -> tokio::net::TcpSocket {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_reuseaddr(true).unwrap();
    socket.bind(std::net::SocketAddr::from(([127, 0, 0, 1], port))).unwrap();
    socket
}

fn upstream(ports: &[u16], metrics: &Metrics) -> Upstream {
    let mut settings = Settings::from_vars(Vec::new()).unwrap().upstream;
    settings.payment_grpc_url = "http://127.0.0.1:50054".to_owned();
    settings.auth_grpc_url = "http://127.0.0.1:50051".to_owned();
    settings.product_grpc_url = ports.iter().map(|p| format!("http://127.0.0.1:{p}")).collect::<Vec<_>>().join(",");
    settings.resolve_interval = Duration::from_millis(200);
    settings.timeout = Duration::from_secs(3);
    Upstream::new(&settings, metrics).unwrap()
}

/// Makes `n` GetProduct calls, eight at a time; every one must succeed.
async fn calls(upstream: &Upstream, n: usize) {
    let mut running = tokio::task::JoinSet::new();
    for i in 0..n {
        let product = upstream.product.clone();
        running.spawn(async move {
            let request = GetProductRequest { product_id: format!("p-{i}") };
            product
                .call(|mut client| {
                    let request = request.clone();
                    async move { client.get_product(request).await }
                })
                .await
        });
        if running.len() >= 8 {
            running.join_next().await.unwrap().unwrap().expect("no call fails");
        }
    }
    for answer in running.join_all().await {
        answer.expect("no call fails");
    }
}

fn gauge(metrics: &Metrics, name: &str) -> f64 {
    let text = metrics.render();
    let line = text.lines().find(|l| l.starts_with(name)).unwrap_or_else(|| panic!("{name} not in {text}"));
    line.rsplit(' ').next().unwrap().parse().unwrap()
}

const IN_ROTATION: &str = "upstream_replicas{service=\"product-service\"}";
const RETRIES: &str = "upstream_retries_total{service=\"product-service\"}";

/// Waits until `ready` holds, for at most `limit`.
async fn eventually(limit: Duration, mut ready: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while !ready() {
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    true
}

#[tokio::test]
async fn calls_spread_over_every_replica_a_new_one_joins_and_a_dead_one_fails_no_call() {
    let mut replicas: Vec<Replica> = (0..3).map(|_| Replica::start(0)).collect();
    let later = reserve(0);
    let mut ports: Vec<u16> = replicas.iter().map(|r| r.port).collect();
    ports.push(later.local_addr().unwrap().port());
    let metrics = Metrics::new().unwrap();
    let upstream = upstream(&ports, &metrics);
    assert!(eventually(Duration::from_secs(10), || gauge(&metrics, IN_ROTATION) == 3.0).await, "3 in rotation");

    // Every replica answers calls.
    calls(&upstream, 90).await;
    for replica in &replicas {
        assert!(
            replica.answered() > 0,
            "a replica got no call: {:?}",
            replicas.iter().map(Replica::answered).collect::<Vec<_>>()
        );
    }

    // A fourth starts on the listed port: within 10 s it answers at least a quarter of a round of
    // 200 calls (a replica held at half its share would get there about once in 10^8 rounds).
    replicas.push(Replica::start_on(later));
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut share = 0.0;
    while share < 0.25 && Instant::now() < deadline {
        let before: Vec<usize> = replicas.iter().map(Replica::answered).collect();
        calls(&upstream, 200).await;
        let after: Vec<usize> = replicas.iter().map(Replica::answered).collect();
        let total: usize = after.iter().zip(&before).map(|(a, b)| a - b).sum();
        share = (after[3] - before[3]) as f64 / total as f64;
    }
    assert!(share >= 0.25, "the replica that started later answered {share:.2} of the last round");

    // One dies while calls run: none fails (a call that hit it is made again on another).
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load = {
        let (upstream, stop) = (upstream.clone(), Arc::clone(&stop));
        tokio::spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                calls(&upstream, 40).await;
            }
        })
    };
    let before_load = replicas[1].answered();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(replicas[1].answered() > before_load, "the replica about to die was not getting calls");
    replicas[1].crash();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    stop.store(true, Ordering::SeqCst);
    load.await.expect("no call failed while a replica died");
    assert!(eventually(Duration::from_secs(10), || gauge(&metrics, IN_ROTATION) == 3.0).await, "the dead one left");

    // Out of the rotation, it costs no call a retry.
    let retries = gauge(&metrics, RETRIES);
    calls(&upstream, 80).await;
    assert_eq!(gauge(&metrics, RETRIES), retries, "calls still went to the dead replica");

    // Back on its port, it answers calls again.
    let port = replicas[1].port;
    replicas[1] = Replica::start(port);
    assert!(eventually(Duration::from_secs(10), || gauge(&metrics, IN_ROTATION) == 4.0).await, "it came back");
    calls(&upstream, 80).await;
    assert!(replicas[1].answered() > 0, "the replica that came back got no call");
}

#[tokio::test]
async fn a_server_that_answers_unavailable_is_not_asked_twice() {
    let replicas: Vec<Replica> = (0..2).map(|_| Replica::start(0)).collect();
    let metrics = Metrics::new().unwrap();
    let upstream = upstream(&replicas.iter().map(|r| r.port).collect::<Vec<_>>(), &metrics);
    assert!(eventually(Duration::from_secs(10), || gauge(&metrics, IN_ROTATION) == 2.0).await, "2 in rotation");

    let request = GetProductRequest { product_id: OVERLOADED.to_owned() };
    let answer = upstream
        .product
        .call(|mut client| {
            let request = request.clone();
            async move { client.get_product(request).await }
        })
        .await;
    assert_eq!(answer.unwrap_err().code(), tonic::Code::Unavailable);
    assert_eq!(replicas.iter().map(Replica::answered).sum::<usize>(), 1, "the server's own answer was repeated");
    assert_eq!(gauge(&metrics, RETRIES), 0.0);
}

#[tokio::test]
async fn with_no_replica_a_call_fails_at_once_and_one_that_starts_is_called_next() {
    let later = reserve(0);
    let metrics = Metrics::new().unwrap();
    let mut settings = Settings::from_vars(Vec::new()).unwrap().upstream;
    settings.payment_grpc_url = "http://127.0.0.1:50054".to_owned();
    settings.auth_grpc_url = "http://127.0.0.1:50051".to_owned();
    settings.product_grpc_url = format!("http://127.0.0.1:{}", later.local_addr().unwrap().port());
    // No periodic round within the test: only a call's own look at the replicas can find one.
    settings.resolve_interval = Duration::from_secs(3600);
    settings.timeout = Duration::from_secs(30);
    let upstream = Upstream::new(&settings, &metrics).unwrap();
    let get = || {
        upstream.product.call(|mut client| async move {
            client.get_product(GetProductRequest { product_id: "p".to_owned() }).await
        })
    };

    let refused = get().await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unavailable);
    assert!(refused.message().contains("accepts connections"), "waited for the deadline: {}", refused.message());

    let replica = Replica::start_on(later);
    get().await.expect("the replica that started is called");
    assert_eq!(replica.answered(), 1);
}
