//! Statements prepared once per connection, where diesel would prepare them on every call.
//!
//! diesel keeps a connection's prepared statements only for queries it can prove have the same
//! SQL every time: never an `UPDATE` (a changeset may skip `None` fields), never `sql_query`.
//! PostgreSQL parses and plans each of those again on every call: auth's login ran ten such
//! statements and product's checkout one a line, and parsing was most of PostgreSQL's CPU under
//! logins (issue 18, loadgen/README.md). [`PreparedOnce`] tells diesel that a statement is safe
//! to keep, which it then keeps by its SQL text. Wrap only a statement whose SQL is fixed: one
//! whose text varies (an `IN` list of the caller's length) would add a statement to the
//! connection's cache for each variant.
//! docs/adr/0026-statements-kept-prepared-beyond-diesels-rule.md.
use diesel::{
    pg::Pg,
    query_builder::{AstPass, Query, QueryFragment, QueryId},
    QueryResult,
};

/// `statement`, kept prepared on its connection after its first execution.
pub struct PreparedOnce<Q>(pub Q);

impl<Q: QueryFragment<Pg>> QueryFragment<Pg> for PreparedOnce<Q> {
    fn walk_ast<'b>(&'b self, pass: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        self.0.walk_ast(pass)
    }

    fn is_safe_to_cache_prepared(&self, _backend: &Pg) -> QueryResult<bool> {
        Ok(true)
    }
}

/// No static id: diesel then keys the kept statement by its SQL text and bind types.
impl<Q> QueryId for PreparedOnce<Q> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Q: Query> Query for PreparedOnce<Q> {
    type SqlType = Q::SqlType;
}
