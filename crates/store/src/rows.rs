//! How rows become the domain's records and back, for both backends: the column lists,
//! the row decoders (opening sealed personal fields with the field keys) and the small
//! encodings the writes share. Stamped into each backend's module by [`row_codecs!`], which
//! [`crate::common::sql_backend!`] invokes, so they sit beside the SQL that uses them.

/// Defines `DbRow`, the `*_COLS` column lists and the `*_from_row` decoders for `$Db`.
/// Expects the imports [`crate::common::sql_backend!`] makes in the invoking module.
macro_rules! row_codecs {
    ($Db:ty) => {
        type DbRow = <$Db as sqlx::Database>::Row;

        /// The user columns, with the subject's wrapped DEK and the sealed KEK that wraps it
        /// (scalar subqueries, so `FOR UPDATE` locks only the user row).
        const USER_COLS: &str = "id, email, display_name, email_enc, display_name_enc, role, password_hash, mfa_enabled,
            locked, created_at, updated_at, email_verified, must_change_password,
            (SELECT kek_version FROM deks WHERE deks.subject = users.id) AS dek_kek,
            (SELECT wrapped FROM deks WHERE deks.subject = users.id) AS dek_wrapped,
            (SELECT sealed FROM keks WHERE keks.version = (SELECT kek_version FROM deks WHERE deks.subject = users.id)) AS kek_sealed";

        use portcullis_core::crypto::envelope::{self, EnvelopeError, FieldKeys};
        use portcullis_core::crypto::secretbox::SecretKey;

        fn envelope_err(e: EnvelopeError) -> StoreError {
            StoreError::Corrupt(format!("personal data: {e}"))
        }

        fn no_keys() -> StoreError {
            StoreError::Unavailable("the field keys are not loaded (master key not available)".into())
        }

        fn keys_of(slot: &crate::common::KeySlot) -> Option<std::sync::Arc<FieldKeys>> {
            slot.read().ok().and_then(|k| k.clone())
        }

        fn version_of(v: i64) -> StoreResult<u32> {
            u32::try_from(v).map_err(|_| corrupt("key version out of range"))
        }

        /// The DEK of `subject` from its wrapped form and the sealed KEK (of `kek_version`)
        /// that wraps it, as a row holds them.
        fn open_dek(
            keys: &FieldKeys,
            subject: &str,
            kek_version: u32,
            wrapped: Option<&[u8]>,
            kek_sealed: Option<&[u8]>,
        ) -> StoreResult<SecretKey> {
            let kek = kek_sealed
                .map(|s| keys.kek(kek_version, s))
                .transpose()
                .map_err(envelope_err)?;
            keys.dek(subject, kek.as_ref(), kek_version, wrapped).map_err(envelope_err)
        }

        /// The DEK of the user in row `r`.
        fn row_dek(keys: &FieldKeys, id: &str, r: &DbRow) -> StoreResult<SecretKey> {
            let kek_version: Option<i64> = r.try_get("dek_kek").map_err(map_err)?;
            let wrapped: Option<Vec<u8>> = r.try_get("dek_wrapped").map_err(map_err)?;
            let kek_sealed: Option<Vec<u8>> = r.try_get("kek_sealed").map_err(map_err)?;
            let kek_version = version_of(kek_version.ok_or_else(|| corrupt("sealed user without a data key"))?)?;
            open_dek(keys, id, kek_version, wrapped.as_deref(), kek_sealed.as_deref())
        }

        fn open_text(dek: &SecretKey, column: &str, id: &str, sealed: &[u8]) -> StoreResult<String> {
            let plain = envelope::open_field(dek, "users", column, id, sealed).map_err(envelope_err)?;
            String::from_utf8(plain.to_vec()).map_err(|_| corrupt("sealed text is not UTF-8"))
        }

        fn corrupt(what: &str) -> StoreError {
            StoreError::Corrupt(what.to_owned())
        }

        /// A user from its row, opening the sealed email and display name with the user's
        /// DEK. Rows without `email_enc` are plaintext: written before envelope encryption
        /// (encrypted at the next start) or erased (the email column holds the pseudonym).
        fn user_from_row(r: &DbRow, keys: Option<&FieldKeys>) -> StoreResult<User> {
            let id: String = r.try_get("id").map_err(map_err)?;
            let email_enc: Option<Vec<u8>> = r.try_get("email_enc").map_err(map_err)?;
            let (email, display_name) = match email_enc {
                None => (
                    r.try_get::<String, _>("email").map_err(map_err)?,
                    r.try_get::<Option<String>, _>("display_name").map_err(map_err)?,
                ),
                Some(sealed) => {
                    let keys = keys.ok_or_else(no_keys)?;
                    let dek = row_dek(keys, &id, r)?;
                    let name: Option<Vec<u8>> = r.try_get("display_name_enc").map_err(map_err)?;
                    (
                        open_text(&dek, "email", &id, &sealed)?,
                        name.map(|n| open_text(&dek, "display_name", &id, &n)).transpose()?,
                    )
                }
            };
            let role: String = r.try_get("role").map_err(map_err)?;
            Ok(User {
                id,
                email: Email::from_stored(email),
                display_name,
                role: role.parse::<Role>().map_err(|_| corrupt("stored role unknown"))?,
                password_hash: r.try_get::<Option<String>, _>("password_hash").map_err(map_err)?.map(PasswordHash),
                mfa_enabled: r.try_get("mfa_enabled").map_err(map_err)?,
                locked: r.try_get("locked").map_err(map_err)?,
                created_at: r.try_get("created_at").map_err(map_err)?,
                updated_at: r.try_get("updated_at").map_err(map_err)?,
                email_verified: r.try_get("email_verified").map_err(map_err)?,
                must_change_password: r.try_get("must_change_password").map_err(map_err)?,
            })
        }

        const SESSION_COLS: &str =
            "id, user_id, created_at, last_seen_at, expires_at, revoked_at, revoked_reason, ip, user_agent, amr, auth_time, dpop_jkt";

        fn session_from_row(r: &DbRow) -> StoreResult<Session> {
            let amr: String = r.try_get("amr").map_err(map_err)?;
            Ok(Session {
                id: r.try_get("id").map_err(map_err)?,
                user_id: r.try_get("user_id").map_err(map_err)?,
                created_at: r.try_get("created_at").map_err(map_err)?,
                last_seen_at: r.try_get("last_seen_at").map_err(map_err)?,
                expires_at: r.try_get("expires_at").map_err(map_err)?,
                revoked_at: r.try_get("revoked_at").map_err(map_err)?,
                revoked_reason: r.try_get("revoked_reason").map_err(map_err)?,
                ip: r.try_get("ip").map_err(map_err)?,
                user_agent: r.try_get("user_agent").map_err(map_err)?,
                amr: serde_json::from_str(&amr).map_err(|_| corrupt("stored amr is not a JSON array"))?,
                auth_time: r.try_get("auth_time").map_err(map_err)?,
                dpop_jkt: r.try_get("dpop_jkt").map_err(map_err)?,
            })
        }

        const PASSKEY_COLS: &str =
            "id, user_id, credential_id, name, credential, credential_enc, backup_eligible, created_at, last_used_at";

        /// A passkey from its row; `dek` is its owner's data key (needed when the credential
        /// is sealed, as every row written since envelope encryption is).
        fn passkey_from_row(r: &DbRow, dek: Option<&SecretKey>) -> StoreResult<PasskeyRecord> {
            let id: String = r.try_get("id").map_err(map_err)?;
            let sealed: Option<Vec<u8>> = r.try_get("credential_enc").map_err(map_err)?;
            let credential = match sealed {
                None => r.try_get("credential").map_err(map_err)?,
                Some(c) => {
                    let dek = dek.ok_or_else(no_keys)?;
                    let plain = envelope::open_field(dek, "passkeys", "credential", &id, &c).map_err(envelope_err)?;
                    String::from_utf8(plain.to_vec()).map_err(|_| corrupt("sealed credential is not UTF-8"))?
                }
            };
            Ok(PasskeyRecord {
                id,
                user_id: r.try_get("user_id").map_err(map_err)?,
                credential_id: r.try_get("credential_id").map_err(map_err)?,
                name: r.try_get("name").map_err(map_err)?,
                credential,
                backup_eligible: r.try_get("backup_eligible").map_err(map_err)?,
                created_at: r.try_get("created_at").map_err(map_err)?,
                last_used_at: r.try_get("last_used_at").map_err(map_err)?,
            })
        }

        fn checkpoint_from_row(r: &DbRow) -> StoreResult<CheckpointRecord> {
            let size: i64 = r.try_get("tree_size").map_err(map_err)?;
            Ok(CheckpointRecord {
                tree_size: u64::try_from(size).map_err(|_| corrupt("negative tree size"))?,
                root_hash: r.try_get("root_hash").map_err(map_err)?,
                note: r.try_get("note").map_err(map_err)?,
                created_at: r.try_get("created_at").map_err(map_err)?,
            })
        }

        const API_KEY_COLS: &str = "id, owner_id, name, prefix, key_hash, scopes, signing, signing_secret, public_key, created_at, expires_at, revoked_at, last_used_at, last_used_ip, rotated_from";

        fn api_key_from_row(r: &DbRow) -> StoreResult<ApiKeyRecord> {
            let scopes: String = r.try_get("scopes").map_err(map_err)?;
            let signing: String = r.try_get("signing").map_err(map_err)?;
            let public_key: Option<Vec<u8>> = r.try_get("public_key").map_err(map_err)?;
            Ok(ApiKeyRecord {
                id: r.try_get("id").map_err(map_err)?,
                owner_id: r.try_get("owner_id").map_err(map_err)?,
                name: r.try_get("name").map_err(map_err)?,
                prefix: r.try_get("prefix").map_err(map_err)?,
                key_hash: r.try_get("key_hash").map_err(map_err)?,
                scopes: serde_json::from_str(&scopes).map_err(|_| corrupt("stored scopes are not a JSON array"))?,
                signing: signing.parse::<SigningMode>().map_err(|_| corrupt("stored signing mode unknown"))?,
                signing_secret: r.try_get("signing_secret").map_err(map_err)?,
                public_key: public_key
                    .map(|k| k.try_into().map_err(|_| corrupt("stored public key is not 32 bytes")))
                    .transpose()?,
                created_at: r.try_get("created_at").map_err(map_err)?,
                expires_at: r.try_get("expires_at").map_err(map_err)?,
                revoked_at: r.try_get("revoked_at").map_err(map_err)?,
                last_used_at: r.try_get("last_used_at").map_err(map_err)?,
                last_used_ip: r.try_get("last_used_ip").map_err(map_err)?,
                rotated_from: r.try_get("rotated_from").map_err(map_err)?,
            })
        }

        fn audit_from_row(r: &DbRow) -> StoreResult<AuditRecord> {
            Ok(AuditRecord {
                seq: r.try_get("seq").map_err(map_err)?,
                time: r.try_get("time").map_err(map_err)?,
                action: r.try_get("action").map_err(map_err)?,
                outcome: r.try_get("outcome").map_err(map_err)?,
                actor: r.try_get("actor").map_err(map_err)?,
                target: r.try_get("target").map_err(map_err)?,
                ip: r.try_get("ip").map_err(map_err)?,
                user_agent: r.try_get("user_agent").map_err(map_err)?,
                details: r.try_get("details").map_err(map_err)?,
                prev_hash: r.try_get("prev_hash").map_err(map_err)?,
                hash: r.try_get("hash").map_err(map_err)?,
                version: r.try_get("version").map_err(map_err)?,
                pii_salt: r.try_get("pii_salt").map_err(map_err)?,
                pii_commitment: r.try_get("pii_commitment").map_err(map_err)?,
                redacted_at: r.try_get("redacted_at").map_err(map_err)?,
            })
        }

        fn signing_key_from_row(r: &DbRow) -> StoreResult<SigningKeyRecord> {
            let pk: Vec<u8> = r.try_get("public_key").map_err(map_err)?;
            Ok(SigningKeyRecord {
                kid: r.try_get("kid").map_err(map_err)?,
                public_key: pk.try_into().map_err(|_| corrupt("stored public key is not 32 bytes"))?,
                sealed_private_key: r.try_get("sealed_private_key").map_err(map_err)?,
                created_at: r.try_get("created_at").map_err(map_err)?,
                activates_at: r.try_get("activates_at").map_err(map_err)?,
            })
        }

        const BAN_COLS: &str = "id, cidr, reason, source, created_at, expires_at, lifted_at";

        fn ban_from_row(r: &DbRow) -> StoreResult<Ban> {
            let cidr: String = r.try_get("cidr").map_err(map_err)?;
            Ok(Ban {
                id: r.try_get("id").map_err(map_err)?,
                cidr: cidr.parse().map_err(|_| corrupt("ban network does not parse"))?,
                reason: r.try_get("reason").map_err(map_err)?,
                source: r.try_get("source").map_err(map_err)?,
                created_at: r.try_get("created_at").map_err(map_err)?,
                expires_at: r.try_get("expires_at").map_err(map_err)?,
                lifted_at: r.try_get("lifted_at").map_err(map_err)?,
            })
        }

        const LOGIN_EVENT_COLS: &str = "id, user_id, account_key, ip, net, time, outcome, device, new_device,
            country, city, latitude, longitude, asn, risk, reasons";

        fn login_event_from_row(r: &DbRow) -> StoreResult<LoginEvent> {
            let reasons: String = r.try_get("reasons").map_err(map_err)?;
            let new_device: i64 = r.try_get("new_device").map_err(map_err)?;
            let asn: Option<i64> = r.try_get("asn").map_err(map_err)?;
            let risk: i64 = r.try_get("risk").map_err(map_err)?;
            Ok(LoginEvent {
                id: r.try_get("id").map_err(map_err)?,
                user_id: r.try_get("user_id").map_err(map_err)?,
                account_key: r.try_get("account_key").map_err(map_err)?,
                ip: r.try_get("ip").map_err(map_err)?,
                net: r.try_get("net").map_err(map_err)?,
                time: r.try_get("time").map_err(map_err)?,
                outcome: r.try_get("outcome").map_err(map_err)?,
                device: r.try_get("device").map_err(map_err)?,
                new_device: new_device != 0,
                geo: portcullis_core::detect::geo::GeoInfo {
                    country: r.try_get("country").map_err(map_err)?,
                    city: r.try_get("city").map_err(map_err)?,
                    latitude: r.try_get("latitude").map_err(map_err)?,
                    longitude: r.try_get("longitude").map_err(map_err)?,
                    asn: asn.and_then(|a| u32::try_from(a).ok()),
                },
                risk: u32::try_from(risk).unwrap_or(0),
                reasons: serde_json::from_str(&reasons).map_err(|_| corrupt("login event reasons"))?,
            })
        }

        fn throttle_from_row(r: &DbRow) -> StoreResult<ThrottleState> {
            Ok(ThrottleState {
                key: r.try_get("key").map_err(map_err)?,
                failures: r.try_get("failures").map_err(map_err)?,
                last_failure_at: r.try_get("last_failure_at").map_err(map_err)?,
                blocked_until: r.try_get("blocked_until").map_err(map_err)?,
            })
        }

        const ALERT_COLS: &str = "id, rule, severity, group_key, first_at, last_at, count, status, dry_run, actions, details, resolved_at, event_seq";

        fn alert_from_row(r: &DbRow) -> StoreResult<AlertRecord> {
            Ok(AlertRecord {
                id: r.try_get("id").map_err(map_err)?,
                rule: r.try_get("rule").map_err(map_err)?,
                severity: r.try_get("severity").map_err(map_err)?,
                group_key: r.try_get("group_key").map_err(map_err)?,
                first_at: r.try_get("first_at").map_err(map_err)?,
                last_at: r.try_get("last_at").map_err(map_err)?,
                count: r.try_get("count").map_err(map_err)?,
                status: r.try_get("status").map_err(map_err)?,
                dry_run: r.try_get("dry_run").map_err(map_err)?,
                actions: r.try_get("actions").map_err(map_err)?,
                details: r.try_get("details").map_err(map_err)?,
                resolved_at: r.try_get("resolved_at").map_err(map_err)?,
                event_seq: r.try_get("event_seq").map_err(map_err)?,
            })
        }

        const DELIVERY_COLS: &str = "alert_id, sink, status, attempts, last_error, created_at, delivered_at";

        fn delivery_from_row(r: &DbRow) -> StoreResult<AlertDelivery> {
            Ok(AlertDelivery {
                alert_id: r.try_get("alert_id").map_err(map_err)?,
                sink: r.try_get("sink").map_err(map_err)?,
                status: r.try_get("status").map_err(map_err)?,
                attempts: r.try_get("attempts").map_err(map_err)?,
                last_error: r.try_get("last_error").map_err(map_err)?,
                created_at: r.try_get("created_at").map_err(map_err)?,
                delivered_at: r.try_get("delivered_at").map_err(map_err)?,
            })
        }

        fn amr_json(amr: &[String]) -> String {
            serde_json::to_string(amr).unwrap_or_else(|_| "[]".to_owned())
        }
    };
}

pub(crate) use row_codecs;
