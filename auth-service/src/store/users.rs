use super::{prepared_once::PreparedOnce, Conn};
use crate::{domain::Email, error::AuthError, schema::users};
use chrono::{DateTime, Utc};
use diesel::{prelude::*, result::DatabaseErrorKind};
use diesel_async::RunQueryDsl;
use uuid::Uuid;

#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct UserRow {
    pub id: Uuid,
    pub email: String,
    pub roles: Vec<String>,
    pub created_at: DateTime<Utc>,
}

/// Inserts a user; a duplicate e-mail (in any case) is `EmailTaken`, decided by the unique
/// index, so concurrent sign-ups of one address create exactly one account.
pub async fn insert(
    conn: &mut Conn,
    id: Uuid,
    email: &Email,
    password_hash: &str,
    roles: &[&str],
) -> Result<(), AuthError> {
    let roles: Vec<String> = roles.iter().map(|r| (*r).to_owned()).collect();
    diesel::insert_into(users::table)
        .values((
            users::id.eq(id),
            users::email.eq(email.as_str()),
            users::password_hash.eq(password_hash),
            users::roles.eq(roles),
        ))
        .execute(conn)
        .await
        .map_err(|e| match e {
            diesel::result::Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => AuthError::EmailTaken,
            other => other.into(),
        })?;
    Ok(())
}

/// A login's look-up: the account, if any (an unknown e-mail is verified against a dummy hash).
#[derive(QueryableByName)]
pub struct LoginLookup {
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Uuid>)]
    pub user_id: Option<Uuid>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    pub password_hash: Option<String>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Array<diesel::sql_types::Text>>)]
    pub roles: Option<Vec<String>>,
}

pub async fn login_lookup(conn: &mut Conn, email_key: &str) -> Result<LoginLookup, AuthError> {
    let lookup = diesel::sql_query(
        "SELECT u.id AS user_id, u.password_hash, u.roles
         FROM (SELECT $1::text AS key) AS k
         LEFT JOIN users u ON lower(u.email) = k.key",
    )
    .bind::<diesel::sql_types::Text, _>(email_key);
    Ok(PreparedOnce(lookup).get_result(conn).await?)
}

pub async fn find_by_id(conn: &mut Conn, id: Uuid) -> Result<Option<UserRow>, AuthError> {
    Ok(users::table.find(id).select(UserRow::as_select()).first(conn).await.optional()?)
}

pub async fn set_password_hash(conn: &mut Conn, id: Uuid, password_hash: &str) -> Result<(), AuthError> {
    diesel::update(users::table.find(id))
        .set((users::password_hash.eq(password_hash), users::updated_at.eq(diesel::dsl::now)))
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn add_role(conn: &mut Conn, id: Uuid, role: &str) -> Result<(), AuthError> {
    diesel::sql_query(
        "UPDATE users SET roles = array_append(roles, $1), updated_at = now() WHERE id = $2 AND NOT ($1 = ANY(roles))",
    )
    .bind::<diesel::sql_types::Text, _>(role)
    .bind::<diesel::sql_types::Uuid, _>(id)
    .execute(conn)
    .await?;
    Ok(())
}
