//! A simulator process: its sites, each served on its own port, and the control API.

use crate::clouds::CloudsYaml;
use crate::config::SimConfig;
use crate::control;
use crate::ctx::service_middleware;
use crate::faults::{fault_middleware, DownMode};
use crate::listener::SiteListener;
use crate::site::Site;
use crate::{compute, identity, image, network, volume};
use axum::Router;
use fedstack_api_types::http::normalize_service_root;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use tower::ServiceExt;
use tower_http::trace::TraceLayer;

/// One site of a running simulator, with its listener.
pub struct SimSite {
    pub site: Arc<Site>,
    pub listener: SiteListener,
}

/// A running simulator.
pub struct Sim {
    pub sites: Vec<SimSite>,
    pub config: SimConfig,
    control: SiteListener,
}

/// The full router of one site: every service under its prefix, with request IDs and faults.
pub fn site_router(site: Arc<Site>) -> Router {
    let services = Router::new()
        .nest("/identity", identity::router())
        .nest("/compute", compute::router())
        .nest("/image", image::router())
        .nest("/volume", volume::router())
        .nest("/networking", network::router())
        .layer(axum::middleware::from_fn_with_state(
            site.clone(),
            fault_middleware,
        ))
        .layer(axum::middleware::from_fn(service_middleware))
        .layer(TraceLayer::new_for_http())
        .with_state(site);
    // `/compute/` and `/compute` are the same version document, as on a real cloud.
    Router::new().fallback_service(services.map_request(normalize_service_root))
}

impl Sim {
    /// Bootstraps and serves every site of `config` on 127.0.0.1, and the control API.
    pub async fn start(config: SimConfig) -> anyhow::Result<Arc<Sim>> {
        let mut sites = Vec::with_capacity(config.sites.len());
        for spec in &config.sites {
            let tcp = SiteListener::reserve(SocketAddr::from((Ipv4Addr::LOCALHOST, spec.port)))
                .await
                .map_err(|e| {
                    anyhow::anyhow!("site {}: cannot bind port {}: {e}", spec.name, spec.port)
                })?;
            let site = Arc::new(Site::new(spec, tcp.local_addr()?, config.timing));
            let listener = SiteListener::from_listener(tcp, site_router(site.clone()))?;
            sites.push(SimSite { site, listener });
        }
        let tcp =
            SiteListener::reserve(SocketAddr::from((Ipv4Addr::LOCALHOST, config.control_port)))
                .await?;
        Ok(Arc::new_cyclic(|me| {
            let control = SiteListener::from_listener(tcp, control::router(me.clone()))
                .expect("bound listener has an address");
            Sim {
                sites,
                config,
                control,
            }
        }))
    }

    /// `http://127.0.0.1:PORT/sim/v1`
    pub fn control_url(&self) -> String {
        format!("http://{}/sim/v1", self.control.addr())
    }

    /// `clouds.yaml` with an admin entry and a `-demo` entry per site.
    pub fn clouds_yaml(&self) -> CloudsYaml {
        let mut c = CloudsYaml::default();
        for (s, spec) in self.sites.iter().zip(&self.config.sites) {
            c.add_site(&s.site, &spec.password);
        }
        c
    }

    /// The site named `name`.
    pub fn site(&self, name: &str) -> Option<&SimSite> {
        self.sites.iter().find(|s| s.site.name == name)
    }

    /// Takes a site down (refusing connections or answering 503) or, with `None`, back up.
    pub async fn set_down(&self, name: &str, mode: Option<DownMode>) -> anyhow::Result<()> {
        let s = self
            .site(name)
            .ok_or_else(|| anyhow::anyhow!("no site {name}"))?;
        s.site.faults.set_down(mode);
        if mode == Some(DownMode::Refuse) {
            s.listener.close();
        } else {
            s.listener.open().await?;
        }
        Ok(())
    }
}
