use super::Conn;
use crate::{domain::Email, error::AuthError, schema::users};
use chrono::{DateTime, Utc};
use diesel::{prelude::*, result::DatabaseErrorKind};
use diesel_async::RunQueryDsl;
use uuid::Uuid;

diesel::define_sql_function!(fn lower(x: diesel::sql_types::Text) -> diesel::sql_types::Text);

#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct UserRow {
    pub id: Uuid,
    pub email: String,
    pub password_hash: String,
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

pub async fn find_by_email(conn: &mut Conn, email: &Email) -> Result<Option<UserRow>, AuthError> {
    Ok(users::table
        .filter(lower(users::email).eq(email.key()))
        .select(UserRow::as_select())
        .first(conn)
        .await
        .optional()?)
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
