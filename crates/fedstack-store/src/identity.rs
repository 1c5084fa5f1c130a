//! Identity at the top: projects, users, roles, assignments, application credentials,
//! token keys and revocations.

use crate::{conflict_on_unique, json_col, now_ms, Result, Store};
use serde::{Deserialize, Serialize};
use sqlx::Row;

/// A top project.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Project {
    pub id: String,
    pub name: String,
    pub description: String,
    pub enabled: bool,
    pub tags: Vec<String>,
}

/// A top user (the password is kept as an argon2 hash).
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    pub id: String,
    pub name: String,
    pub password_hash: String,
    pub description: Option<String>,
    pub email: Option<String>,
    pub enabled: bool,
    pub default_project_id: Option<String>,
}

/// An application credential (the secret kept as an argon2 hash).
#[derive(Debug, Clone, PartialEq)]
pub struct AppCredential {
    pub id: String,
    pub user_id: String,
    pub project_id: String,
    pub name: String,
    pub description: Option<String>,
    pub secret_hash: String,
    /// Role names the credential carries.
    pub roles: Vec<String>,
    pub unrestricted: bool,
    pub expires_at: Option<i64>,
}

/// A revocation: every token matching `id` (an audit id, `user:<id>` or `project:<id>`)
/// issued before `issued_before` is invalid.
#[derive(Debug, Clone, PartialEq)]
pub struct Revocation {
    pub id: String,
    pub kind: String,
    pub issued_before: i64,
    pub expires_at: i64,
}

fn project_row(r: &sqlx::any::AnyRow) -> Result<Project> {
    Ok(Project {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        description: r.try_get("description")?,
        enabled: r.try_get::<i64, _>("enabled")? != 0,
        tags: json_col(&r.try_get::<String, _>("tags")?)?,
    })
}

fn user_row(r: &sqlx::any::AnyRow) -> Result<User> {
    Ok(User {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        password_hash: r.try_get("password_hash")?,
        description: r.try_get("description")?,
        email: r.try_get("email")?,
        enabled: r.try_get::<i64, _>("enabled")? != 0,
        default_project_id: r.try_get("default_project_id")?,
    })
}

const PROJECT_COLS: &str = "id, name, description, enabled, tags";
const USER_COLS: &str = "id, name, password_hash, description, email, enabled, default_project_id";

impl Store {
    /// Creates a project; a taken name is a conflict.
    pub async fn create_project(&self, p: &Project) -> Result<()> {
        sqlx::query("INSERT INTO projects (id, name, description, enabled, tags, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(&p.id)
            .bind(&p.name)
            .bind(&p.description)
            .bind(p.enabled as i64)
            .bind(serde_json::to_string(&p.tags).unwrap_or_else(|_| "[]".into()))
            .bind(now_ms())
            .execute(&self.pool)
            .await
            .map_err(|e| conflict_on_unique(e, &p.name))?;
        Ok(())
    }

    /// Replaces a project's attributes.
    pub async fn update_project(&self, p: &Project) -> Result<()> {
        sqlx::query("UPDATE projects SET name = $2, description = $3, enabled = $4, tags = $5 WHERE id = $1")
            .bind(&p.id)
            .bind(&p.name)
            .bind(&p.description)
            .bind(p.enabled as i64)
            .bind(serde_json::to_string(&p.tags).unwrap_or_else(|_| "[]".into()))
            .execute(&self.pool)
            .await
            .map_err(|e| conflict_on_unique(e, &p.name))?;
        Ok(())
    }

    pub async fn project(&self, id: &str) -> Result<Option<Project>> {
        let q = format!("SELECT {PROJECT_COLS} FROM projects WHERE id = $1");
        sqlx::query(&q)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(project_row)
            .transpose()
    }

    pub async fn project_by_name(&self, name: &str) -> Result<Option<Project>> {
        let q = format!("SELECT {PROJECT_COLS} FROM projects WHERE name = $1");
        sqlx::query(&q)
            .bind(name)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(project_row)
            .transpose()
    }

    pub async fn projects(&self) -> Result<Vec<Project>> {
        let q = format!("SELECT {PROJECT_COLS} FROM projects ORDER BY id");
        sqlx::query(&q)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(project_row)
            .collect()
    }

    /// Deletes a project and its role assignments; false if it did not exist.
    pub async fn delete_project(&self, id: &str) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM assignments WHERE project_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let n = sqlx::query("DELETE FROM projects WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(n > 0)
    }

    /// Creates a user; a taken name is a conflict.
    pub async fn create_user(&self, u: &User) -> Result<()> {
        sqlx::query("INSERT INTO users (id, name, password_hash, description, email, enabled, default_project_id, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)")
            .bind(&u.id)
            .bind(&u.name)
            .bind(&u.password_hash)
            .bind(&u.description)
            .bind(&u.email)
            .bind(u.enabled as i64)
            .bind(&u.default_project_id)
            .bind(now_ms())
            .execute(&self.pool)
            .await
            .map_err(|e| conflict_on_unique(e, &u.name))?;
        Ok(())
    }

    /// Replaces a user's attributes.
    pub async fn update_user(&self, u: &User) -> Result<()> {
        sqlx::query("UPDATE users SET name = $2, password_hash = $3, description = $4, email = $5, enabled = $6, default_project_id = $7 WHERE id = $1")
            .bind(&u.id)
            .bind(&u.name)
            .bind(&u.password_hash)
            .bind(&u.description)
            .bind(&u.email)
            .bind(u.enabled as i64)
            .bind(&u.default_project_id)
            .execute(&self.pool)
            .await
            .map_err(|e| conflict_on_unique(e, &u.name))?;
        Ok(())
    }

    pub async fn user(&self, id: &str) -> Result<Option<User>> {
        let q = format!("SELECT {USER_COLS} FROM users WHERE id = $1");
        sqlx::query(&q)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(user_row)
            .transpose()
    }

    pub async fn user_by_name(&self, name: &str) -> Result<Option<User>> {
        let q = format!("SELECT {USER_COLS} FROM users WHERE name = $1");
        sqlx::query(&q)
            .bind(name)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(user_row)
            .transpose()
    }

    pub async fn users(&self) -> Result<Vec<User>> {
        let q = format!("SELECT {USER_COLS} FROM users ORDER BY id");
        sqlx::query(&q)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(user_row)
            .collect()
    }

    /// Deletes a user with its assignments and application credentials.
    pub async fn delete_user(&self, id: &str) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM assignments WHERE user_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM app_credentials WHERE user_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let n = sqlx::query("DELETE FROM users WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(n > 0)
    }

    /// Creates a role if no role has that name; returns the role's ID.
    pub async fn ensure_role(&self, id: &str, name: &str) -> Result<String> {
        sqlx::query("INSERT INTO roles (id, name) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING")
            .bind(id)
            .bind(name)
            .execute(&self.pool)
            .await?;
        let row = sqlx::query("SELECT id FROM roles WHERE name = $1")
            .bind(name)
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get("id")?)
    }

    /// All roles as (id, name), by name.
    pub async fn roles(&self) -> Result<Vec<(String, String)>> {
        let rows = sqlx::query("SELECT id, name FROM roles ORDER BY name")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("id")?, r.try_get("name")?)))
            .collect()
    }

    pub async fn delete_role(&self, id: &str) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM assignments WHERE role_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let n = sqlx::query("DELETE FROM roles WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(n > 0)
    }

    /// Grants a role on a project (idempotent).
    pub async fn assign(&self, user_id: &str, project_id: &str, role_id: &str) -> Result<()> {
        sqlx::query("INSERT INTO assignments (user_id, project_id, role_id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
            .bind(user_id)
            .bind(project_id)
            .bind(role_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Removes a grant; false if there was none.
    pub async fn unassign(&self, user_id: &str, project_id: &str, role_id: &str) -> Result<bool> {
        let n = sqlx::query(
            "DELETE FROM assignments WHERE user_id = $1 AND project_id = $2 AND role_id = $3",
        )
        .bind(user_id)
        .bind(project_id)
        .bind(role_id)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(n > 0)
    }

    /// Assignments as (user, project, role), optionally filtered.
    pub async fn assignments(
        &self,
        user_id: Option<&str>,
        project_id: Option<&str>,
    ) -> Result<Vec<(String, String, String)>> {
        let rows = sqlx::query(
            "SELECT user_id, project_id, role_id FROM assignments WHERE ($1 IS NULL OR user_id = $1) AND ($2 IS NULL OR project_id = $2) ORDER BY user_id, project_id, role_id",
        )
        .bind(user_id)
        .bind(project_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get("user_id")?,
                    r.try_get("project_id")?,
                    r.try_get("role_id")?,
                ))
            })
            .collect()
    }

    pub async fn create_app_credential(&self, c: &AppCredential) -> Result<()> {
        sqlx::query("INSERT INTO app_credentials (id, user_id, project_id, name, description, secret_hash, roles, unrestricted, expires_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)")
            .bind(&c.id)
            .bind(&c.user_id)
            .bind(&c.project_id)
            .bind(&c.name)
            .bind(&c.description)
            .bind(&c.secret_hash)
            .bind(serde_json::to_string(&c.roles).unwrap_or_else(|_| "[]".into()))
            .bind(c.unrestricted as i64)
            .bind(c.expires_at)
            .bind(now_ms())
            .execute(&self.pool)
            .await
            .map_err(|e| conflict_on_unique(e, &c.name))?;
        Ok(())
    }

    pub async fn app_credential(&self, id: &str) -> Result<Option<AppCredential>> {
        let row = sqlx::query("SELECT id, user_id, project_id, name, description, secret_hash, roles, unrestricted, expires_at FROM app_credentials WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(app_cred_row).transpose()
    }

    pub async fn app_credentials_of(&self, user_id: &str) -> Result<Vec<AppCredential>> {
        let rows = sqlx::query("SELECT id, user_id, project_id, name, description, secret_hash, roles, unrestricted, expires_at FROM app_credentials WHERE user_id = $1 ORDER BY name")
            .bind(user_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(app_cred_row).collect()
    }

    pub async fn delete_app_credential(&self, user_id: &str, id: &str) -> Result<bool> {
        let n = sqlx::query("DELETE FROM app_credentials WHERE user_id = $1 AND id = $2")
            .bind(user_id)
            .bind(id)
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(n > 0)
    }

    /// Token keys as (id, secret), newest first.
    pub async fn token_keys(&self) -> Result<Vec<(String, String)>> {
        let rows =
            sqlx::query("SELECT id, secret FROM token_keys ORDER BY created_at DESC, id DESC")
                .fetch_all(&self.pool)
                .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("id")?, r.try_get("secret")?)))
            .collect()
    }

    /// Adds a token key, newer than every other even within the same millisecond (the newest
    /// signs); keys beyond the newest `keep` are dropped.
    pub async fn add_token_key(&self, id: &str, secret: &str, keep: usize) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        let newest: Option<i64> = sqlx::query("SELECT MAX(created_at) AS newest FROM token_keys")
            .fetch_one(&mut *tx)
            .await?
            .try_get("newest")?;
        let created_at = newest.map_or(now_ms(), |n| now_ms().max(n + 1));
        sqlx::query("INSERT INTO token_keys (id, secret, created_at) VALUES ($1, $2, $3)")
            .bind(id)
            .bind(secret)
            .bind(created_at)
            .execute(&mut *tx)
            .await?;
        let rows = sqlx::query("SELECT id FROM token_keys ORDER BY created_at DESC, id DESC")
            .fetch_all(&mut *tx)
            .await?;
        for r in rows.iter().skip(keep) {
            let old: String = r.try_get("id")?;
            sqlx::query("DELETE FROM token_keys WHERE id = $1")
                .bind(old)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Records a revocation (replacing an older one with the same id).
    pub async fn revoke(&self, r: &Revocation) -> Result<()> {
        sqlx::query("INSERT INTO revocations (id, kind, issued_before, expires_at) VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO UPDATE SET issued_before = excluded.issued_before, expires_at = excluded.expires_at")
            .bind(&r.id)
            .bind(&r.kind)
            .bind(r.issued_before)
            .bind(r.expires_at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Revocations still relevant (not past the lifetime of the tokens they revoke).
    pub async fn revocations(&self) -> Result<Vec<Revocation>> {
        let now = now_ms();
        sqlx::query("DELETE FROM revocations WHERE expires_at < $1")
            .bind(now)
            .execute(&self.pool)
            .await?;
        let rows = sqlx::query("SELECT id, kind, issued_before, expires_at FROM revocations")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(Revocation {
                    id: r.try_get("id")?,
                    kind: r.try_get("kind")?,
                    issued_before: r.try_get("issued_before")?,
                    expires_at: r.try_get("expires_at")?,
                })
            })
            .collect()
    }
}

fn app_cred_row(r: &sqlx::any::AnyRow) -> Result<AppCredential> {
    Ok(AppCredential {
        id: r.try_get("id")?,
        user_id: r.try_get("user_id")?,
        project_id: r.try_get("project_id")?,
        name: r.try_get("name")?,
        description: r.try_get("description")?,
        secret_hash: r.try_get("secret_hash")?,
        roles: json_col(&r.try_get::<String, _>("roles")?)?,
        unrestricted: r.try_get::<i64, _>("unrestricted")? != 0,
        expires_at: r.try_get("expires_at")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{test_store, StoreError};

    #[tokio::test]
    async fn projects_users_assignments() {
        let s = test_store().await;
        let p = Project {
            id: "p1".into(),
            name: "demo".into(),
            description: String::new(),
            enabled: true,
            tags: vec![],
        };
        s.create_project(&p).await.unwrap();
        let dup = Project {
            id: "p2".into(),
            ..p.clone()
        };
        assert!(matches!(
            s.create_project(&dup).await,
            Err(StoreError::Conflict(_))
        ));
        assert_eq!(s.project_by_name("demo").await.unwrap(), Some(p.clone()));
        let u = User {
            id: "u1".into(),
            name: "alice".into(),
            password_hash: "h".into(),
            description: None,
            email: None,
            enabled: true,
            default_project_id: None,
        };
        s.create_user(&u).await.unwrap();
        let member = s.ensure_role("r1", "member").await.unwrap();
        assert_eq!(s.ensure_role("other", "member").await.unwrap(), member);
        s.assign("u1", "p1", &member).await.unwrap();
        s.assign("u1", "p1", &member).await.unwrap();
        assert_eq!(s.assignments(Some("u1"), None).await.unwrap().len(), 1);
        assert!(s.delete_project("p1").await.unwrap());
        assert!(s.assignments(Some("u1"), None).await.unwrap().is_empty());
        assert!(!s.delete_project("p1").await.unwrap());
    }

    #[tokio::test]
    async fn token_keys_rotate_and_revocations_expire() {
        let s = test_store().await;
        for i in 0..4 {
            s.add_token_key(&format!("k{i}"), "secret", 3)
                .await
                .unwrap();
        }
        let keys = s.token_keys().await.unwrap();
        assert_eq!(keys.len(), 3);
        assert_eq!(keys[0].0, "k3");
        s.revoke(&Revocation {
            id: "a".into(),
            kind: "audit".into(),
            issued_before: 10,
            expires_at: now_ms() + 60_000,
        })
        .await
        .unwrap();
        s.revoke(&Revocation {
            id: "b".into(),
            kind: "audit".into(),
            issued_before: 10,
            expires_at: 1,
        })
        .await
        .unwrap();
        let r = s.revocations().await.unwrap();
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].id, "a");
    }
}
