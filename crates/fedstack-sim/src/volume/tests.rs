//! Behaviour of the simulated Cinder against the captured samples
//! (`../shared/openstack-samples/block-storage`).

use crate::image::BootImage;
use crate::testing::TestSite;
use axum::http::StatusCode;
use bytes::Bytes;

fn boot_image(data: &'static [u8]) -> BootImage {
    BootImage {
        id: "img-1".into(),
        name: "cirros".into(),
        data: Bytes::from_static(data),
        size: data.len() as u64,
        min_disk: 0,
        min_ram: 0,
        disk_format: "qcow2".into(),
        container_format: "bare".into(),
        properties: serde_json::Map::new(),
    }
}

fn demo_project(t: &TestSite) -> String {
    let g = t.site.data.lock();
    g.identity
        .project_by_name("demo")
        .map(|p| p.id.clone())
        .expect("demo project")
}

#[tokio::test]
async fn nova_contract_boot_attach_detach_delete() {
    let t = TestSite::new().await;
    let project = demo_project(&t);
    let mut g = t.site.data.lock();
    let v = &mut g.volume;
    let img = boot_image(b"bootable bytes");
    let id = v
        .create_for_boot(&project, 1, Some(&img), "boot")
        .expect("created");
    assert_eq!(v.volume_data(&id).as_deref(), Some(&b"bootable bytes"[..]));
    let att = v
        .attach(&project, &id, "server-1", "host-1", "/dev/vda")
        .expect("attached");
    assert!(!att.is_empty());
    let again = v
        .attach(&project, &id, "server-2", "host-1", "/dev/vdb")
        .expect_err("in-use volume");
    assert_eq!(again.status, StatusCode::BAD_REQUEST);
    assert_eq!(again.body()["badRequest"]["code"], 400);
    v.detach(&id, "server-1").expect("detached");
    v.attach(&project, &id, "server-2", "host-1", "/dev/vdb")
        .expect("available again after detach");
    v.delete_for_server(&id);
    assert!(v.volume_data(&id).is_none());
}

#[tokio::test]
async fn nova_contract_refuses_unknown_and_foreign_volumes() {
    let t = TestSite::new().await;
    let project = demo_project(&t);
    let mut g = t.site.data.lock();
    let v = &mut g.volume;
    let e = v
        .attach(&project, "nope", "server-1", "host-1", "/dev/vdb")
        .expect_err("unknown");
    assert_eq!(e.status, StatusCode::NOT_FOUND);
    assert_eq!(
        e.body()["itemNotFound"]["message"],
        "Volume nope could not be found."
    );
    let id = v
        .create_for_boot(&project, 1, None, "blank")
        .expect("created");
    assert_eq!(v.volume_data(&id).as_deref(), Some(&b""[..]));
    let e = v
        .attach("other-project", &id, "server-1", "host-1", "/dev/vdb")
        .expect_err("foreign");
    assert_eq!(e.status, StatusCode::NOT_FOUND);
    let big = BootImage {
        size: 3 << 30,
        ..boot_image(b"x")
    };
    let e = v
        .create_for_boot(&project, 1, Some(&big), "small")
        .expect_err("image larger than volume");
    assert_eq!(e.status, StatusCode::BAD_REQUEST);
    let e = v
        .create_for_boot(&project, 5000, None, "huge")
        .expect_err("over gigabytes quota");
    assert_eq!(e.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        e.body()["overLimit"]["message"],
        "VolumeSizeExceedsAvailableQuota: Requested volume or snapshot exceeds allowed gigabytes quota. Requested 5000G, quota is 1000G and 1G has been consumed."
    );
}
