//! The gRPC server: this service's API, the standard health service and server reflection
//! (v1 and v1alpha, so grpcurl and older clients can list and call methods without protos).
mod callers;
mod error;
mod observe;

use callers::TOKEN_CHECKERS;

use crate::{
    accounts::Accounts,
    domain::Role,
    error::AuthError,
    metrics::Metrics,
    proto::{
        shop::auth::v1::{
            self as pb,
            auth_service_server::{AuthService, AuthServiceServer},
        },
        FILE_DESCRIPTOR_SET,
    },
    tls::{self, ServerTls},
};
use anyhow::Context;
use std::{future::Future, sync::Arc};
use tokio::net::TcpListener;
use tonic::transport::Server;

/// Token checks and user look-ups for other services.
pub struct AuthGrpc {
    accounts: Accounts,
}

#[tonic::async_trait]
impl AuthService for AuthGrpc {
    /// Online verification: signature, claims, and that the session was not revoked.
    async fn verify_token(
        &self,
        request: tonic::Request<pb::VerifyTokenRequest>,
    ) -> Result<tonic::Response<pb::VerifyTokenResponse>, tonic::Status> {
        callers::require(&request, "VerifyToken", &TOKEN_CHECKERS)?;
        let token = request.into_inner().access_token;
        if token.is_empty() {
            return Err(AuthError::invalid("access_token", "is empty").into());
        }
        let claims = self.accounts.authenticate(&token).await?;
        Ok(tonic::Response::new(pb::VerifyTokenResponse {
            claims: Some(pb::TokenClaims {
                sub: claims.sub,
                jti: claims.jti,
                roles: claims.roles.iter().map(|r| role(*r) as i32).collect(),
                iss: claims.iss,
                aud: claims.aud,
                issued_at: Some(timestamp(claims.iat)),
                expires_at: Some(timestamp(claims.exp)),
            }),
        }))
    }

    async fn get_user(
        &self,
        request: tonic::Request<pb::GetUserRequest>,
    ) -> Result<tonic::Response<pb::GetUserResponse>, tonic::Status> {
        callers::require(&request, "GetUser", &TOKEN_CHECKERS)?;
        // On behalf of whom: the user's own access token, or an admin's. An e-mail address is
        // not for any service that merely asks.
        let token = bearer(request.metadata()).ok_or(AuthError::MissingToken)?;
        let claims = self.accounts.authenticate(token).await?;
        let user_id: uuid::Uuid =
            request.get_ref().user_id.parse().map_err(|_| AuthError::invalid("user_id", "is not a UUID"))?;
        if claims.user_id() != Some(user_id) && !claims.is_admin() {
            return Err(AuthError::Forbidden.into());
        }
        let user = self.accounts.user(user_id).await?;
        Ok(tonic::Response::new(pb::GetUserResponse {
            user: Some(pb::User {
                user_id: user.id.to_string(),
                email: user.email,
                roles: Role::parse_all(&user.roles).into_iter().map(|r| role(r) as i32).collect(),
                created_at: Some(std::time::SystemTime::from(user.created_at).into()),
            }),
        }))
    }
}

/// The access token of `authorization: Bearer <token>`.
fn bearer(metadata: &tonic::metadata::MetadataMap) -> Option<&str> {
    metadata.get("authorization")?.to_str().ok()?.strip_prefix("Bearer ").filter(|t| !t.is_empty())
}

fn role(role: Role) -> pb::Role {
    match role {
        Role::Customer => pb::Role::Customer,
        Role::Admin => pb::Role::Admin,
    }
}

fn timestamp(unix_seconds: u64) -> prost_types::Timestamp {
    prost_types::Timestamp { seconds: i64::try_from(unix_seconds).unwrap_or(i64::MAX), nanos: 0 }
}

/// Serves mutual TLS (`tls`) on `listener` until `shutdown` resolves, then lets in-flight calls
/// finish. `reflection`: serve gRPC
/// server reflection (development only: `Settings::grpc_reflection`).
pub async fn serve(
    listener: TcpListener,
    tls: Arc<ServerTls>,
    metrics: Metrics,
    accounts: Accounts,
    reflection: bool,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let (health, health_service) = tonic_health::server::health_reporter();
    health.set_serving::<AuthServiceServer<AuthGrpc>>().await;

    let mut served = vec![FILE_DESCRIPTOR_SET, tonic_health::pb::FILE_DESCRIPTOR_SET];
    // Reflection hands the whole API to whoever reaches the port: a development aid only.
    let (reflection_v1, reflection_v1alpha) = if reflection {
        let reflection = || {
            tonic_reflection::server::Builder::configure()
                .register_encoded_file_descriptor_set(FILE_DESCRIPTOR_SET)
                .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        };
        served.extend([
            tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET,
            tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET,
        ]);
        (
            Some(reflection().build_v1().context("building gRPC reflection v1")?),
            Some(reflection().build_v1alpha().context("building gRPC reflection v1alpha")?),
        )
    } else {
        (None, None)
    };
    let methods = observe::MethodLabels::from_descriptor_sets(&served).context("reading the served methods")?;

    Server::builder()
        .layer(observe::layer(metrics, methods))
        .add_service(health_service)
        .add_optional_service(reflection_v1)
        .add_optional_service(reflection_v1alpha)
        .add_service(AuthServiceServer::new(AuthGrpc { accounts }))
        .serve_with_incoming_shutdown(tls::incoming(listener, tls), shutdown)
        .await
        .context("the gRPC server failed")
}
