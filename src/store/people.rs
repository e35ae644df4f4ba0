//! People, the BLE tags they carry, and the groups they belong to.

use chrono::{DateTime, Utc};

use super::readings::ReadingOwner;
use super::record::{record, replace_links, save_row, select};
use super::{Result, Store, now, on_pool};

#[derive(Debug, Clone, Default, sqlx::FromRow)]
pub struct Person {
    pub id: i64,
    pub full_name: String,
    pub document_id: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub user_type: Option<i32>,
    pub active: bool,
    pub notes: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Default, sqlx::FromRow)]
pub struct Tag {
    pub id: i64,
    /// Canonical 12-digit form.
    pub mac_address: String,
    pub label: Option<String>,
    pub person_id: Option<i64>,
    pub active: bool,
    pub notes: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Default, sqlx::FromRow)]
pub struct PersonGroup {
    pub id: i64,
    pub name: String,
    pub description: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A person's membership of a group, for listing people with their groups.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Membership {
    pub person_id: i64,
    pub group_id: i64,
    pub group_name: String,
}

macro_rules! person_columns {
    () => {
        "id, full_name, document_id, email, phone, user_type, active, notes, created_at, updated_at"
    };
}
macro_rules! tag_columns {
    () => {
        "id, mac_address, label, person_id, active, notes, created_at, updated_at"
    };
}
macro_rules! group_columns {
    () => {
        "id, name, description, created_at, updated_at"
    };
}

macro_rules! membership_columns {
    () => {
        "m.person_id, m.group_id, g.name AS group_name"
    };
}

record!(Person, "people", person_columns);
record!(Tag, "tags", tag_columns);
record!(PersonGroup, "person_groups", group_columns);

/// Ids per `IN (…)` list: far below either engine's limit on parameters.
const IDS_PER_QUERY: usize = 1000;

impl Store {
    pub async fn list_people(&self, skip: i64, limit: i64) -> Result<Vec<Person>> {
        self.fetch_page(skip, limit).await
    }

    pub async fn person(&self, id: i64) -> Result<Person> {
        self.fetch_by_id(id).await
    }

    /// Inserts (id 0) or updates a person, and optionally replaces its group memberships,
    /// in one transaction.
    pub async fn save_person(&self, p: &Person, group_ids: Option<&[i64]>) -> Result<Person> {
        const INSERT: &str = concat!(
            "INSERT INTO people (full_name, document_id, email, phone, user_type, active, notes, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) RETURNING ",
            person_columns!()
        );
        const UPDATE: &str = concat!(
            "UPDATE people SET full_name = $1, document_id = $2, email = $3, phone = $4, user_type = $5, \
             active = $6, notes = $7, updated_at = $8 WHERE id = $9 RETURNING ",
            person_columns!()
        );
        const UNLINK: &str = "DELETE FROM person_group_memberships WHERE person_id = $1";
        const LINK: &str = "INSERT INTO person_group_memberships (person_id, group_id) VALUES ($1, $2) \
             ON CONFLICT DO NOTHING";
        on_pool!(self, write, |pool| {
            let mut tx = pool.begin().await?;
            let saved: Person = save_row!(&mut *tx, p, INSERT, UPDATE, |q| q
                .bind(&p.full_name)
                .bind(&p.document_id)
                .bind(&p.email)
                .bind(&p.phone)
                .bind(p.user_type)
                .bind(p.active)
                .bind(&p.notes)
                .bind(now()));
            if let Some(ids) = group_ids {
                replace_links!(tx, UNLINK, LINK, saved.id, ids);
            }
            tx.commit().await?;
            Ok(saved)
        })
    }

    /// Group memberships of the given people, by person and group name.
    pub async fn memberships(&self, person_ids: &[i64]) -> Result<Vec<Membership>> {
        let mut memberships = Vec::new();
        for ids in person_ids.chunks(IDS_PER_QUERY) {
            let placeholders: Vec<String> = (1..=ids.len()).map(|i| format!("${i}")).collect();
            let sql = format!(
                concat!(
                    "SELECT ",
                    membership_columns!(),
                    " FROM person_group_memberships m JOIN person_groups g ON g.id = m.group_id \
                     WHERE m.person_id IN ({}) ORDER BY m.person_id, g.name"
                ),
                placeholders.join(", ")
            );
            let chunk: Vec<Membership> = on_pool!(self, read, |pool| {
                let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql));
                for id in ids {
                    query = query.bind(id);
                }
                query.fetch_all(pool).await?
            });
            memberships.extend(chunk);
        }
        Ok(memberships)
    }

    pub async fn list_tags(
        &self,
        person_id: Option<i64>,
        skip: i64,
        limit: i64,
    ) -> Result<Vec<Tag>> {
        const SQL: &str = select!(
            tag_columns,
            "FROM tags WHERE ($1 IS NULL OR person_id = $1) ORDER BY id LIMIT $2 OFFSET $3"
        );
        self.fetch_page_by(SQL, person_id, skip, limit).await
    }

    /// Every tag's MAC, id, active flag and person, for the pipeline's cache.
    pub async fn tag_keys(&self) -> Result<Vec<(String, i64, bool, Option<i64>)>> {
        const SQL: &str = "SELECT mac_address, id, active, person_id FROM tags";
        self.fetch_all(SQL).await
    }

    pub async fn tag(&self, id: i64) -> Result<Tag> {
        self.fetch_by_id(id).await
    }

    pub async fn tag_by_mac(&self, mac: &crate::mac::Mac) -> Result<Tag> {
        const SQL: &str = select!(tag_columns, "FROM tags WHERE mac_address = $1");
        self.fetch_one_by(SQL, mac.as_str()).await
    }

    /// Inserts (id 0) or updates a tag.
    pub async fn save_tag(&self, t: &Tag) -> Result<Tag> {
        const INSERT: &str = concat!(
            "INSERT INTO tags (mac_address, label, person_id, active, notes, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING ",
            tag_columns!()
        );
        const UPDATE: &str = concat!(
            "UPDATE tags SET mac_address = $1, label = $2, person_id = $3, active = $4, notes = $5, \
             updated_at = $6 WHERE id = $7 RETURNING ",
            tag_columns!()
        );
        Ok(on_pool!(self, write, |pool| save_row!(
            pool,
            t,
            INSERT,
            UPDATE,
            |q| q
                .bind(&t.mac_address)
                .bind(&t.label)
                .bind(t.person_id)
                .bind(t.active)
                .bind(&t.notes)
                .bind(now())
        )))
    }

    /// Deletes a tag with its readings and what else is its own.
    pub async fn delete_tag(&self, id: i64) -> Result<()> {
        let delete = <Tag as super::Record>::DELETE_BY_ID;
        self.delete_with_readings(ReadingOwner::Tag, id, &[delete])
            .await
    }

    pub async fn person_group(&self, id: i64) -> Result<PersonGroup> {
        self.fetch_by_id(id).await
    }

    /// Inserts (id 0) or updates a person group.
    pub async fn save_person_group(&self, g: &PersonGroup) -> Result<PersonGroup> {
        const INSERT: &str = concat!(
            "INSERT INTO person_groups (name, description, created_at, updated_at) VALUES ($1, $2, $3, $3) RETURNING ",
            group_columns!()
        );
        const UPDATE: &str = concat!(
            "UPDATE person_groups SET name = $1, description = $2, updated_at = $3 WHERE id = $4 RETURNING ",
            group_columns!()
        );
        Ok(on_pool!(self, write, |pool| save_row!(
            pool,
            g,
            INSERT,
            UPDATE,
            |q| q.bind(&g.name).bind(&g.description).bind(now())
        )))
    }

    /// Deletes a person group and its memberships.
    pub async fn delete_person_group(&self, id: i64) -> Result<()> {
        self.delete_by_id::<PersonGroup>(id).await
    }

    /// Alert rules that target a person group (deleting the group would widen them to
    /// everybody).
    pub async fn alert_rules_for_group(&self, group_id: i64) -> Result<i64> {
        const SQL: &str = "SELECT COUNT(*) FROM alert_rules WHERE group_id = $1";
        self.count_by(SQL, group_id).await
    }

    pub async fn group_members(&self, group_id: i64) -> Result<Vec<Person>> {
        const SQL: &str = concat!(
            "SELECT ",
            person_columns!(),
            " FROM people WHERE id IN \
             (SELECT person_id FROM person_group_memberships WHERE group_id = $1) ORDER BY id"
        );
        self.fetch_all_by(SQL, group_id).await
    }

    /// Replaces the members of a group with the existing people among `person_ids`.
    pub async fn set_group_members(&self, group_id: i64, person_ids: &[i64]) -> Result<()> {
        const UNLINK: &str = "DELETE FROM person_group_memberships WHERE group_id = $1";
        const LINK: &str = "INSERT INTO person_group_memberships (person_id, group_id) \
             SELECT id, $1 FROM people WHERE id = $2 ON CONFLICT DO NOTHING";
        on_pool!(self, write, |pool| {
            let mut tx = pool.begin().await?;
            replace_links!(tx, UNLINK, LINK, group_id, person_ids);
            sqlx::query("UPDATE person_groups SET updated_at = $2 WHERE id = $1")
                .bind(group_id)
                .bind(now())
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(())
        })
    }
}
