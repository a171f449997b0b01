//! A backend assembled from routes declared as data.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use async_trait::async_trait;
use coffer_types::{Error, Operation, Response, Result, SecretLease};

use crate::{
    Backend, BackendRequest, Field, IssuedLogin, LoginRenewal, Pattern, Req, SecretRequest,
    SpecialPaths,
};

/// A boxed future, as handlers return.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// A route handler: an `async fn(Arc<S>, Req) -> Result<Option<Response>>`.
pub trait Handler<S>: Send + Sync + 'static {
    /// Runs the handler.
    fn call(&self, state: Arc<S>, req: Req) -> BoxFuture<Result<Option<Response>>>;
}

impl<S, F, Fut> Handler<S> for F
where
    S: Send + Sync + 'static,
    F: Fn(Arc<S>, Req) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Option<Response>>> + Send + 'static,
{
    fn call(&self, state: Arc<S>, req: Req) -> BoxFuture<Result<Option<Response>>> {
        Box::pin(self(state, req))
    }
}

type ExistenceFn<S> = Arc<dyn Fn(Arc<S>, Req) -> BoxFuture<Result<bool>> + Send + Sync>;
type RenewFn<S> =
    Arc<dyn Fn(Arc<S>, SecretRequest) -> BoxFuture<Result<SecretLease>> + Send + Sync>;
type RevokeFn<S> = Arc<dyn Fn(Arc<S>, SecretRequest) -> BoxFuture<Result<()>> + Send + Sync>;
type InitializeFn<S> = Arc<dyn Fn(Arc<S>) -> BoxFuture<Result<()>> + Send + Sync>;
type LoginRenewFn<S> =
    Arc<dyn Fn(Arc<S>, Req, IssuedLogin) -> BoxFuture<Result<LoginRenewal>> + Send + Sync>;

/// One route: a pattern, its fields, and a handler per operation.
pub struct Path<S> {
    pattern: Pattern,
    fields: Vec<Field>,
    handlers: Vec<(Operation, Arc<dyn Handler<S>>)>,
    existence: Option<ExistenceFn<S>>,
    open_fields: bool,
    help: &'static str,
}

impl<S: Send + Sync + 'static> Path<S> {
    /// A route for `pattern` (see [`Pattern`]).
    pub fn new(pattern: &str) -> Self {
        Path {
            pattern: Pattern::new(pattern),
            fields: Vec::new(),
            handlers: Vec::new(),
            existence: None,
            open_fields: false,
            help: "",
        }
    }

    /// Declares a field.
    pub fn field(mut self, field: Field) -> Self {
        self.fields.push(field);
        self
    }

    /// Accepts any parameter without the "unrecognized parameters" warning (KV v1 data).
    pub fn open_fields(mut self) -> Self {
        self.open_fields = true;
        self
    }

    /// Sets the help text.
    pub fn help(mut self, help: &'static str) -> Self {
        self.help = help;
        self
    }

    /// The handler for `operation`.
    pub fn on(mut self, operation: Operation, handler: impl Handler<S>) -> Self {
        self.handlers.push((operation, Arc::new(handler)));
        self
    }

    /// The read handler.
    pub fn read(self, handler: impl Handler<S>) -> Self {
        self.on(Operation::Read, handler)
    }

    /// The list handler.
    pub fn list(self, handler: impl Handler<S>) -> Self {
        self.on(Operation::List, handler)
    }

    /// The handler for create and update.
    pub fn write(mut self, handler: impl Handler<S>) -> Self {
        let handler: Arc<dyn Handler<S>> = Arc::new(handler);
        self.handlers.push((Operation::Create, handler.clone()));
        self.handlers.push((Operation::Update, handler));
        self
    }

    /// The patch handler.
    pub fn patch(self, handler: impl Handler<S>) -> Self {
        self.on(Operation::Patch, handler)
    }

    /// The delete handler.
    pub fn delete(self, handler: impl Handler<S>) -> Self {
        self.on(Operation::Delete, handler)
    }

    /// Makes the route create-aware: `check` says whether the target exists.
    pub fn existence<F, Fut>(mut self, check: F) -> Self
    where
        F: Fn(Arc<S>, Req) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<bool>> + Send + 'static,
    {
        self.existence = Some(Arc::new(move |s, r| Box::pin(check(s, r))));
        self
    }

    /// The pattern's source text.
    pub fn pattern(&self) -> &str {
        self.pattern.source()
    }
}

/// A backend made of routes over a shared state `S`. The first matching route wins.
pub struct Router<S> {
    state: Arc<S>,
    paths: Vec<(Path<S>, Arc<[Field]>)>,
    special: SpecialPaths,
    renew: Option<RenewFn<S>>,
    revoke: Option<RevokeFn<S>>,
    login_renewal: Option<LoginRenewFn<S>>,
    initialize: Option<InitializeFn<S>>,
}

impl<S: Send + Sync + 'static> Router<S> {
    /// An empty router over `state`.
    pub fn new(state: Arc<S>) -> Self {
        Router {
            state,
            paths: Vec::new(),
            special: SpecialPaths::default(),
            renew: None,
            revoke: None,
            login_renewal: None,
            initialize: None,
        }
    }

    /// Declares what runs before the mount serves (see [`Backend::initialize`]).
    pub fn on_initialize<F, Fut>(mut self, init: F) -> Self
    where
        F: Fn(Arc<S>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<()>> + Send + 'static,
    {
        self.initialize = Some(Arc::new(move |s| Box::pin(init(s))));
        self
    }

    /// Declares how this engine's leased secrets are renewed and revoked.
    pub fn secret<R, RFut, V, VFut>(mut self, renew: R, revoke: V) -> Self
    where
        R: Fn(Arc<S>, SecretRequest) -> RFut + Send + Sync + 'static,
        RFut: Future<Output = Result<SecretLease>> + Send + 'static,
        V: Fn(Arc<S>, SecretRequest) -> VFut + Send + Sync + 'static,
        VFut: Future<Output = Result<()>> + Send + 'static,
    {
        self.renew = Some(Arc::new(move |s, r| Box::pin(renew(s, r))));
        self.revoke = Some(Arc::new(move |s, r| Box::pin(revoke(s, r))));
        self
    }

    /// Declares how this auth method judges the renewal of a token its login issued (see
    /// [`Backend::renew_login`]). The handler gets the renewal as a request to the login
    /// path, with no declared fields, and what the login stored.
    pub fn login_renewal<F, Fut>(mut self, check: F) -> Self
    where
        F: Fn(Arc<S>, Req, IssuedLogin) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<LoginRenewal>> + Send + 'static,
    {
        self.login_renewal = Some(Arc::new(move |s, r, l| Box::pin(check(s, r, l))));
        self
    }

    /// Adds a route.
    pub fn path(mut self, path: Path<S>) -> Self {
        let fields: Arc<[Field]> = path.fields.clone().into();
        self.paths.push((path, fields));
        self
    }

    /// Declares the special paths.
    pub fn special_paths(mut self, special: SpecialPaths) -> Self {
        self.special = special;
        self
    }

    fn route(&self, req: BackendRequest) -> Result<(&Path<S>, Req)> {
        for (path, fields) in &self.paths {
            if let Some(captures) = path.pattern.matches(&req.path) {
                return Ok((path, Req::new(req, captures, fields.clone())));
            }
        }
        Err(Error::UnsupportedPath)
    }
}

#[async_trait]
impl<S: Send + Sync + 'static> Backend for Router<S> {
    async fn handle(&self, req: BackendRequest) -> Result<Option<Response>> {
        let operation = req.operation;
        let (path, req) = self.route(req)?;
        let handler = path
            .handlers
            .iter()
            .find(|(op, _)| *op == operation)
            .map(|(_, h)| h.clone())
            .ok_or(Error::UnsupportedOperation)?;
        req.validate()?;
        let is_write =
            matches!(operation, Operation::Create | Operation::Update | Operation::Patch);
        let unknown = if is_write && !path.open_fields { req.unknown_fields() } else { Vec::new() };
        let mut response = handler.call(self.state.clone(), req).await?;
        if !unknown.is_empty() {
            let warning =
                format!("Endpoint ignored these unrecognized parameters: [{}]", unknown.join(" "));
            response.get_or_insert_with(Response::default).warnings.push(warning);
        }
        Ok(response)
    }

    async fn exists(&self, req: &BackendRequest) -> Result<Option<bool>> {
        // Most paths have no existence check: find out before copying the request.
        let has_check = self
            .paths
            .iter()
            .find(|(path, _)| path.pattern.matches(&req.path).is_some())
            .is_some_and(|(path, _)| path.existence.is_some());
        if !has_check {
            return Ok(None);
        }
        let (path, req) = match self.route(req.clone()) {
            Ok(found) => found,
            Err(_) => return Ok(None),
        };
        match &path.existence {
            Some(check) => check(self.state.clone(), req).await.map(Some),
            None => Ok(None),
        }
    }

    fn special_paths(&self) -> SpecialPaths {
        self.special.clone()
    }

    async fn initialize(&self) -> Result<()> {
        match &self.initialize {
            Some(init) => init(self.state.clone()).await,
            None => Ok(()),
        }
    }

    async fn renew_secret(&self, req: SecretRequest) -> Result<SecretLease> {
        match &self.renew {
            Some(renew) => renew(self.state.clone(), req).await,
            None => Err(Error::invalid("lease is not renewable")),
        }
    }

    async fn revoke_secret(&self, req: SecretRequest) -> Result<()> {
        match &self.revoke {
            Some(revoke) => revoke(self.state.clone(), req).await,
            None => Ok(()),
        }
    }

    async fn renew_login(&self, req: BackendRequest, login: IssuedLogin) -> Result<LoginRenewal> {
        match &self.login_renewal {
            Some(check) => {
                let req = Req::new(req, Default::default(), Arc::from(Vec::new()));
                check(self.state.clone(), req, login).await
            }
            None => Ok(LoginRenewal::Unchanged),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use coffer_storage::MemoryStorage;
    use serde_json::json;

    async fn ok(_s: Arc<()>, _req: Req) -> Result<Option<Response>> {
        Ok(None)
    }

    #[tokio::test]
    async fn captures_repeated_in_the_body_are_not_unrecognized() {
        let router = Router::new(Arc::new(()))
            .path(Path::new("role/{name}").field(Field::string("ttl")).write(ok));
        let mut req =
            BackendRequest::new(Operation::Update, "role/web", Arc::new(MemoryStorage::new()));
        req.data = json!({"name": "web", "ttl": "1h"}).as_object().cloned().unwrap();
        assert!(router.handle(req.clone()).await.unwrap().is_none(), "a 204, as OpenBao gives");
        req.data.insert("colour".into(), json!("blue"));
        let warned = router.handle(req).await.unwrap().unwrap();
        assert_eq!(warned.warnings, ["Endpoint ignored these unrecognized parameters: [colour]"]);
    }
}
