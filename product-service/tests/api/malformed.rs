//! Random and malformed gRPC messages (empty, truncated, oversized, wrong wire types, random
//! bytes) to every method of the service: each gets a gRPC status — never a crash, never an
//! INTERNAL other than the protocol's own "cannot decode" — and the service goes on serving.
use crate::helpers::spawn_app;
use proptest::{
    prelude::*,
    test_runner::{Config, TestRunner},
};
use prost::bytes::{Buf, BufMut};
use tonic::{
    codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder},
    codegen::http::uri::PathAndQuery,
    transport::Channel,
    Code, Status,
};

const METHODS: &[&str] = &[
    "/shop.product.v1.ProductService/GetProduct",
    "/shop.product.v1.ProductService/BatchGetProducts",
    "/shop.product.v1.ProductService/ReserveStock",
    "/shop.product.v1.ProductService/CommitReservation",
    "/shop.product.v1.ProductService/ReleaseReservation",
];

/// Sends bytes as they are and reads the answer's bytes back: what a broken or hostile client does.
struct RawCodec;
struct Raw;

impl Encoder for Raw {
    type Item = Vec<u8>;
    type Error = Status;
    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for Raw {
    type Item = Vec<u8>;
    type Error = Status;
    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, Status> {
        let mut bytes = vec![0; src.remaining()];
        src.copy_to_slice(&mut bytes);
        Ok(Some(bytes))
    }
}

impl Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = Raw;
    type Decoder = Raw;
    fn encoder(&mut self) -> Raw {
        Raw
    }
    fn decoder(&mut self) -> Raw {
        Raw
    }
}

async fn call(channel: Channel, method: &'static str, body: Vec<u8>, token: &str) -> Result<Vec<u8>, Status> {
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.map_err(|e| Status::unavailable(e.to_string()))?;
    let mut request = tonic::Request::new(body);
    request.metadata_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
    grpc.unary(request, PathAndQuery::from_static(method), RawCodec).await.map(|answer| answer.into_inner())
}

/// A status a client's bad message may get: the client's fault, named, or the protocol's own
/// "cannot decode" (INTERNAL, as gRPC's status-code document prescribes for parse errors).
fn acceptable(status: &Status) -> bool {
    match status.code() {
        Code::InvalidArgument
        | Code::NotFound
        | Code::Unauthenticated
        | Code::PermissionDenied
        | Code::FailedPrecondition
        | Code::AlreadyExists
        | Code::OutOfRange
        | Code::ResourceExhausted => true,
        Code::Internal => status.message().contains("decode"),
        _ => false,
    }
}

/// Messages every method must survive, whatever their fields are.
fn malformed() -> Vec<Vec<u8>> {
    vec![
        Vec::new(),                               // empty: every field at its default
        vec![0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f], // field 1 claims a 4 GiB length
        vec![0x0a, 0x05, b'a', b'b'],             // truncated string
        vec![0x08, 0x96, 0x01, 0x10, 0xff],       // varints where strings belong, one cut short
        vec![0x0b, 0x0c],                         // deprecated group wire types
        vec![0xff; 64],                           // no valid tag at all
        [vec![0x0a, 0x80, 0x80, 0x80, 0x03], vec![b'x'; 6 * 1024 * 1024]].concat(), // 6 MiB: over the limit
    ]
}

#[test]
fn malformed_and_random_messages_get_a_status_and_the_service_keeps_serving() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let app = runtime.block_on(spawn_app());
    let channel = runtime.block_on(app.grpc_channel());
    let token = String::from("not-a-token");

    for method in METHODS {
        for body in malformed() {
            let size = body.len();
            if let Err(status) = runtime.block_on(call(channel.clone(), method, body, &token)) {
                assert!(acceptable(&status), "{method} with {size} malformed bytes: {status:?}");
            }
        }
    }

    let mut runner = TestRunner::new(Config { cases: 200, failure_persistence: None, ..Config::default() });
    let strategy = (prop::sample::select(METHODS), prop::collection::vec(any::<u8>(), 0..2048));
    runner
        .run(&strategy, |(method, body)| {
            let size = body.len();
            if let Err(status) = runtime.block_on(call(channel.clone(), method, body, &token)) {
                prop_assert!(acceptable(&status), "{} with {} random bytes: {:?}", method, size, status);
            }
            Ok(())
        })
        .unwrap();

    let health = runtime.block_on(app.client.get(format!("{}/healthz", app.address)).send()).unwrap();
    assert_eq!(health.status(), 200, "the service still serves after the storm");
}
