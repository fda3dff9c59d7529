//! What auth does: sign-up, login, refresh, logout, token checks, order history. HTTP and
//! gRPC handlers are thin adapters over this.
use crate::{
    configuration::{LoginSettings, Settings, TrustedProxies},
    db::DbPool,
    domain::{Email, Password, Role},
    error::AuthError,
    events::{outbox, types},
    passwords::PasswordHasher,
    proto::shop::events::v1::{SessionRevoked, UserRegistered},
    store::{
        self,
        orders::{self, OrderRow},
        sessions, throttle,
        users::{self, UserRow},
    },
    tokens::{hash_refresh_token, new_refresh_token, AccessTokens, Claims},
};
use scoped_futures::ScopedFutureExt;
use secrecy::SecretString;
use serde::Serialize;
use std::{net::IpAddr, sync::Arc, time::Duration};
use tokio::sync::{watch, Notify};
use uuid::Uuid;

/// Orders returned by `GET /v1/auth/me/orders` at most.
const ORDER_HISTORY_LIMIT: i64 = 100;

#[derive(Clone)]
pub struct Accounts {
    pool: DbPool,
    /// True once the schema exists; until then requests get 503, not a failed query.
    migrated: watch::Receiver<bool>,
    hasher: PasswordHasher,
    tokens: Arc<AccessTokens>,
    login: LoginSettings,
    refresh_ttl: Duration,
    session_max_lifetime: Duration,
    events_topic: String,
    /// Wakes the outbox relay when a committed transaction added an event.
    outbox_ready: Arc<Notify>,
}

/// Who a checked e-mail and password belong to.
struct Authenticated {
    user_id: Uuid,
    roles: Vec<Role>,
    /// The stored hash uses older parameters.
    needs_rehash: bool,
    /// The throttle keys the attempt was counted on, forgiven (`throttle::forgive`) once the
    /// password is known to be right.
    keys: Vec<throttle::Key>,
}

/// What a successful login or refresh returns (OAuth 2.0 token response shape).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TokenPair {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: u64,
    pub refresh_token: String,
}

impl Accounts {
    pub fn new(
        settings: &Settings,
        pool: DbPool,
        migrated: watch::Receiver<bool>,
        tokens: Arc<AccessTokens>,
        outbox_ready: Arc<Notify>,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            pool,
            migrated,
            hasher: PasswordHasher::new(settings.login.hash_concurrency)?,
            tokens,
            login: settings.login.clone(),
            refresh_ttl: settings.tokens.refresh_ttl,
            session_max_lifetime: settings.tokens.session_max_lifetime,
            events_topic: settings.kafka.events_topic.clone(),
            outbox_ready,
        })
    }

    pub fn tokens(&self) -> &AccessTokens {
        &self.tokens
    }

    pub fn trusted_proxies(&self) -> &TrustedProxies {
        &self.login.trusted_proxies
    }

    /// Creates a customer account and, in the same transaction, its `UserRegistered` event.
    /// Sign-ups from one `client` address are throttled: the answer says whether an e-mail has
    /// an account (ADR 15).
    pub async fn signup(&self, email: &str, password: String, client: IpAddr) -> Result<Uuid, AuthError> {
        let mut conn = self.conn().await?;
        throttle::take(&mut conn, &[throttle::signup_key(client, &self.login)], &self.login).await?;
        drop(conn);
        self.register(email, password, &[Role::Customer]).await
    }

    /// The `create-admin` command: a new admin account, or the admin role for an existing one
    /// whose password matches.
    pub async fn create_admin(&self, email: &str, password: String) -> Result<Uuid, AuthError> {
        match self.register(email, password.clone(), &[Role::Customer, Role::Admin]).await {
            Err(AuthError::EmailTaken) => {
                let user = self.check_password(email, password, None).await?;
                let (keys, user_id) = (&user.keys, user.user_id);
                let mut conn = self.conn().await?;
                store::transaction::<_, AuthError, _>(&mut conn, |conn| {
                    async move {
                        throttle::forgive(conn, keys).await?;
                        users::add_role(conn, user_id, Role::Admin.as_str()).await
                    }
                    .scope_boxed()
                })
                .await?;
                Ok(user_id)
            }
            other => other,
        }
    }

    async fn register(&self, email: &str, password: String, roles: &[Role]) -> Result<Uuid, AuthError> {
        let email = Email::parse(email).map_err(|e| AuthError::invalid("email", e.0))?;
        let password = Password::parse(password, &email).map_err(|e| AuthError::invalid("password", e.0))?;
        let hash = self.hasher.hash(SecretString::from(password.expose())).await?;
        let user_id = Uuid::now_v7();
        let roles: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
        let topic = &self.events_topic;
        let mut conn = self.conn().await?;
        store::transaction::<_, AuthError, _>(&mut conn, |conn| {
            async move {
                users::insert(conn, user_id, &email, &hash, &roles).await?;
                let event = UserRegistered {
                    user_id: user_id.to_string(),
                    email: email.to_string(),
                    registered_at: Some(std::time::SystemTime::now().into()),
                };
                outbox::enqueue(conn, topic, &user_id.to_string(), types::USER_REGISTERED, &event).await?;
                Ok(())
            }
            .scope_boxed()
        })
        .await?;
        self.outbox_ready.notify_one();
        tracing::info!(%user_id, "account created");
        Ok(user_id)
    }

    /// Checks e-mail and password under the brute-force throttle. An unknown e-mail and a
    /// wrong password cost the same argon2 work and give the same error.
    async fn check_password(
        &self,
        raw_email: &str,
        password: String,
        client: Option<IpAddr>,
    ) -> Result<Authenticated, AuthError> {
        // A malformed address cannot belong to an account, but it is throttled all the same —
        // by its digest: it may hold anything (a NUL byte, which PostgreSQL text refuses; 64 KiB).
        let account = Email::parse(raw_email).map_or_else(|_| malformed_key(raw_email), |email| email.key());
        let keys = throttle::login_keys(&account, client, &self.login);
        let mut conn = self.conn().await?;
        // Counted before the hash, so concurrent guesses cannot all pass the check.
        throttle::take(&mut conn, &keys, &self.login).await?;
        let found = users::login_lookup(&mut conn, &account).await?;
        drop(conn); // no connection is held during the hash
        let verified = self.hasher.verify(SecretString::from(password), found.password_hash).await?;
        match found.user_id {
            Some(user_id) if verified.valid => {
                let roles = Role::parse_all(&found.roles.unwrap_or_default());
                Ok(Authenticated { user_id, roles, needs_rehash: verified.needs_rehash, keys })
            }
            _ => Err(AuthError::InvalidCredentials),
        }
    }

    /// `client`: the caller's address (`http::client_address`), which the throttle counts.
    pub async fn login(&self, email: &str, password: String, client: IpAddr) -> Result<TokenPair, AuthError> {
        let user = self.check_password(email, password.clone(), Some(client)).await?;
        // Hashed before the transaction: no connection is held during a hash. The password is
        // right whatever the hasher answers: a saturated or failed hash only leaves the upgrade
        // to the next login, and must not fail this one (nor keep its attempt counted).
        let rehashed = if user.needs_rehash {
            let hashed = self.hasher.hash(SecretString::from(password)).await;
            hashed
                .inspect_err(|error| tracing::warn!(%error, "re-hashing a password failed; the next login tries again"))
                .ok()
        } else {
            None
        };
        let session_id = Uuid::now_v7();
        let refresh_token = new_refresh_token()?;
        let token_hash = hash_refresh_token(&refresh_token);
        let expires_at = self.refresh_expiry()?;
        let (keys, user_id, rehashed) = (&user.keys, user.user_id, rehashed.as_deref());
        let mut conn = self.conn().await?;
        // The throttle's forgiveness alone, committed asynchronously (ADR 28): the client
        // address's row it locks is every login's from that address, so it must not stay locked
        // while the commit waits for the disk. A right password was checked: forgiving it is
        // right even if what follows fails.
        store::transaction_with_async_commit::<_, AuthError, _>(&mut conn, |conn| {
            throttle::forgive(conn, keys).scope_boxed()
        })
        .await?;
        // The session durably: its tokens are handed out and verified offline (cart), so it must
        // outlive a crash to be revocable. Its commit, one statement, locks no shared row, and
        // flushes the forgiveness's WAL with its own.
        sessions::open(&mut conn, session_id, user_id, &token_hash, expires_at).await?;
        if let Some(hash) = rehashed {
            users::set_password_hash(&mut conn, user_id, hash).await?;
        }
        drop(conn);
        self.pair(user_id, session_id, user.roles, refresh_token)
    }

    /// Exchanges a refresh token for a new pair; the presented token is spent. Presenting a
    /// spent token means it was copied: the whole session is revoked, for the thief and the
    /// victim alike.
    pub async fn refresh(&self, presented: &str) -> Result<TokenPair, AuthError> {
        let presented_hash = hash_refresh_token(presented);
        let next_token = new_refresh_token()?;
        let next_hash = hash_refresh_token(&next_token);
        let expires_at = self.refresh_expiry()?;
        let lifetime = self.session_lifetime()?;
        let (topic, access_ttl) = (&self.events_topic, self.tokens.ttl());
        let mut conn = self.conn().await?;
        let outcome = store::transaction::<_, AuthError, _>(&mut conn, |conn| {
            async move {
                let Some(token) = sessions::find_for_update(conn, &presented_hash).await? else {
                    return Ok(Err(AuthError::InvalidRefreshToken));
                };
                // Rotation renews a refresh token, never the session: it ends `lifetime`
                // after the login, however often it was refreshed.
                let session_ends = token.family_created_at + lifetime;
                let now = chrono::Utc::now();
                if token.family_revoked_at.is_some() || token.expires_at <= now || session_ends <= now {
                    return Ok(Err(AuthError::InvalidRefreshToken));
                }
                let expires_at = expires_at.min(session_ends);
                if token.spent_at.is_some() {
                    // Committed with the transaction, then reported.
                    revoke_session(conn, topic, token.family_id, "refresh token reused", access_ttl).await?;
                    return Ok(Err(AuthError::RefreshTokenReused));
                }
                sessions::mark_spent(conn, token.id).await?;
                sessions::add_refresh_token(conn, token.family_id, &next_hash, expires_at).await?;
                let roles = users::find_by_id(conn, token.user_id).await?.map(|u| u.roles).unwrap_or_default();
                Ok(Ok((token.user_id, token.family_id, roles)))
            }
            .scope_boxed()
        })
        .await?;
        match outcome {
            Ok((user_id, session_id, roles)) => self.pair(user_id, session_id, Role::parse_all(&roles), next_token),
            Err(AuthError::RefreshTokenReused) => {
                self.outbox_ready.notify_one();
                tracing::warn!("a spent refresh token was presented again: its session is revoked");
                Err(AuthError::RefreshTokenReused)
            }
            Err(error) => Err(error),
        }
    }

    /// Revokes the session of the refresh token, or else of the bearer access token.
    pub async fn logout(&self, refresh_token: Option<&str>, bearer: Option<&Claims>) -> Result<(), AuthError> {
        let mut conn = self.conn().await?;
        let session_id = match (refresh_token, bearer) {
            (Some(token), _) => {
                // Outside a transaction the row lock lasts only this statement: a plain look-up.
                let token = sessions::find_for_update(&mut conn, &hash_refresh_token(token)).await?;
                token.ok_or(AuthError::InvalidRefreshToken)?.family_id
            }
            (None, Some(claims)) => claims.session_id().ok_or(AuthError::InvalidToken)?,
            (None, None) => return Err(AuthError::MissingToken),
        };
        let (topic, access_ttl) = (&self.events_topic, self.tokens.ttl());
        store::transaction::<_, AuthError, _>(&mut conn, |conn| {
            revoke_session(conn, topic, session_id, "logout", access_ttl).scope_boxed()
        })
        .await?;
        self.outbox_ready.notify_one();
        Ok(())
    }

    /// Verifies an access token, including that its session was not revoked.
    pub async fn authenticate(&self, access_token: &str) -> Result<Claims, AuthError> {
        let claims = self.tokens.verify(access_token).map_err(|reason| {
            tracing::debug!(%reason, "access token refused");
            AuthError::InvalidToken
        })?;
        let session_id = claims.session_id().ok_or(AuthError::InvalidToken)?;
        let user_id = claims.user_id().ok_or(AuthError::InvalidToken)?;
        let mut conn = self.conn().await?;
        if sessions::is_active(&mut conn, session_id, user_id, self.session_lifetime()?).await? {
            Ok(claims)
        } else {
            Err(AuthError::InvalidToken)
        }
    }

    pub async fn user(&self, user_id: Uuid) -> Result<UserRow, AuthError> {
        let mut conn = self.conn().await?;
        users::find_by_id(&mut conn, user_id).await?.ok_or(AuthError::UserNotFound)
    }

    pub async fn orders(&self, user_id: Uuid) -> Result<Vec<OrderRow>, AuthError> {
        let mut conn = self.conn().await?;
        orders::list(&mut conn, user_id, ORDER_HISTORY_LIMIT).await
    }

    fn pair(
        &self,
        user_id: Uuid,
        session_id: Uuid,
        roles: Vec<Role>,
        refresh_token: String,
    ) -> Result<TokenPair, AuthError> {
        let (access_token, _) = self.tokens.issue(user_id, session_id, roles)?;
        Ok(TokenPair { access_token, token_type: "Bearer", expires_in: self.tokens.ttl().as_secs(), refresh_token })
    }

    async fn conn(&self) -> Result<store::Pooled, AuthError> {
        if !*self.migrated.borrow() {
            return Err(AuthError::Unavailable(anyhow::anyhow!("database migrations not applied yet")));
        }
        Ok(self.pool.get().await?)
    }

    /// How long a session lasts from its login, refreshes or not.
    fn session_lifetime(&self) -> Result<chrono::Duration, AuthError> {
        Ok(chrono::Duration::from_std(self.session_max_lifetime).map_err(anyhow::Error::from)?)
    }

    fn refresh_expiry(&self) -> Result<chrono::DateTime<chrono::Utc>, AuthError> {
        let ttl = chrono::Duration::from_std(self.refresh_ttl).map_err(anyhow::Error::from)?;
        Ok(chrono::Utc::now() + ttl)
    }
}

/// Revokes a session and, when this call revoked it, adds its `SessionRevoked` event to the
/// outbox: services that verify tokens locally learn to refuse the session's access tokens,
/// none of which outlives `access_ttl` from now. Call it inside the transaction.
async fn revoke_session(
    conn: &mut store::Conn,
    topic: &str,
    session_id: Uuid,
    reason: &str,
    access_ttl: Duration,
) -> Result<(), AuthError> {
    let Some(user_id) = sessions::revoke(conn, session_id, reason).await? else {
        return Ok(());
    };
    let now = std::time::SystemTime::now();
    let event = SessionRevoked {
        session_id: session_id.to_string(),
        user_id: user_id.to_string(),
        reason: reason.to_owned(),
        revoked_at: Some(now.into()),
        tokens_expire_at: Some((now + access_ttl).into()),
    };
    outbox::enqueue(conn, topic, &user_id.to_string(), types::SESSION_REVOKED, &event).await?;
    Ok(())
}

/// The throttle key of a login with an address that is not one: a digest of what was sent.
fn malformed_key(raw_email: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, raw_email.trim().to_lowercase().as_bytes());
    let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("malformed:{hex}")
}
