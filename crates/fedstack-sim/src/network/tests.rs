//! Neutron behaviour checked against the captured samples, and the Nova contract.

use super::contract::NicRequest;
use super::NetworkData;
use crate::config::SiteSpec;
use crate::site::Bootstrap;

fn data() -> (NetworkData, Bootstrap) {
    let b = Bootstrap {
        admin_project_id: "admin-p".into(),
        admin_user_id: "admin-u".into(),
        demo_project_id: "demo-p".into(),
        demo_user_id: "demo-u".into(),
        service_project_id: "service-p".into(),
    };
    (NetworkData::bootstrap(&b, &SiteSpec::named("T")), b)
}

#[test]
fn plug_and_unplug_servers() {
    let (mut d, b) = data();
    let p = &b.demo_project_id;
    let net = d.auto_network(p).expect("private network");
    let nic = NicRequest::Network {
        id: net.clone(),
        fixed_ip: None,
    };
    let a = d
        .plug_server(p, "srv-1", "host1", &nic, &[])
        .expect("plugged");
    assert_eq!(a.network_name, "private");
    assert_eq!(a.fixed_ips.len(), 1);
    assert_eq!(a.fixed_ips[0].0.to_string(), "10.1.0.2");
    assert!(a.mac.starts_with("fa:16:3e:"));
    let fixed = NicRequest::Network {
        id: net.clone(),
        fixed_ip: Some("10.1.0.50".parse().expect("ip")),
    };
    let b2 = d
        .plug_server(p, "srv-1", "host1", &fixed, &["default".into()])
        .expect("second nic");
    assert_eq!(b2.fixed_ips[0].0.to_string(), "10.1.0.50");
    let nics = d.server_nics("srv-1");
    assert_eq!(
        nics.iter().map(|n| n.port_id.as_str()).collect::<Vec<_>>(),
        [a.port_id.as_str(), b2.port_id.as_str()]
    );
    let e = d
        .plug_server(p, "srv-2", "host1", &fixed, &[])
        .expect_err("address in use");
    assert_eq!(e.status.as_u16(), 400);
    assert_eq!(
        e.message,
        "Fixed IP address 10.1.0.50 is already in use on instance srv-1."
    );
    let e = d
        .plug_server(
            p,
            "srv-2",
            "host1",
            &NicRequest::Network {
                id: "nope".into(),
                fixed_ip: None,
            },
            &[],
        )
        .expect_err("unknown");
    assert_eq!(
        e.body()["badRequest"]["message"],
        "Network nope could not be found."
    );
    let e = d
        .plug_server(p, "srv-2", "host1", &nic, &["web".into()])
        .expect_err("unknown group");
    assert_eq!(e.message, "Security group web not found.");
    d.unplug_port("srv-1", &b2.port_id).expect("detached");
    assert_eq!(
        d.unplug_port("srv-1", &b2.port_id)
            .expect_err("gone")
            .status
            .as_u16(),
        404
    );
    d.unplug_server("srv-1");
    assert!(d.server_nics("srv-1").is_empty());
    let again = d
        .plug_server(p, "srv-3", "host1", &fixed, &[])
        .expect("address freed");
    assert_eq!(again.fixed_ips[0].0.to_string(), "10.1.0.50");
}

#[test]
fn existing_ports_are_bound_then_unbound() {
    let (mut d, b) = data();
    let p = &b.demo_project_id;
    let net = d.auto_network(p).expect("private");
    let port = d
        .create_port(super::ops::NewPort::new(p, &net))
        .expect("port");
    let req = NicRequest::Port { id: port.clone() };
    let nic = d.plug_server(p, "srv", "h", &req, &[]).expect("bound");
    assert_eq!(nic.port_id, port);
    let e = d
        .plug_server(p, "other", "h", &req, &[])
        .expect_err("in use");
    assert_eq!(e.status.as_u16(), 409);
    assert_eq!(e.message, format!("Port {port} is still in use."));
    let e = d
        .plug_server(&b.admin_project_id, "other", "h", &req, &[])
        .expect_err("not theirs");
    assert_eq!(e.status.as_u16(), 400);
    d.unplug_server("srv");
    let kept = &d.ports[&port];
    assert_eq!(kept.device_id, "");
    assert_eq!(kept.status(), "DOWN");
    assert!(d.check_security_groups(p, &["default".into()]).is_ok());
    assert!(d.check_security_groups(p, &["nope".into()]).is_err());
    assert!(d.floating_ips_of_port(&port).is_empty());
}
