-- Users: usernames and emails are unique case-insensitively.
CREATE TABLE users (
    id            uuid PRIMARY KEY,
    username      text NOT NULL,
    email         text NOT NULL,
    display_name  text NOT NULL,
    avatar_url    text NOT NULL DEFAULT '',
    password_hash text NOT NULL,
    role          text NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'moderator', 'admin')),
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_username_key ON users (lower(username));
CREATE UNIQUE INDEX users_email_key ON users (lower(email));
-- Prefix search on usernames.
CREATE INDEX users_username_prefix ON users (lower(username) text_pattern_ops);

-- Refresh tokens: only a SHA-256 of the token is stored. Tokens issued by
-- rotation share a family; reusing a rotated token revokes the family.
CREATE TABLE refresh_tokens (
    id          uuid PRIMARY KEY,
    family_id   uuid NOT NULL,
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash  bytea NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    rotated_at  timestamptz,
    revoked_at  timestamptz
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id);

-- Failed logins, by account name and by client IP, for throttling. Keyed by
-- the name typed, so unknown accounts are throttled exactly like real ones.
CREATE TABLE login_failures (
    key           text PRIMARY KEY,
    failures      integer NOT NULL,
    window_start  timestamptz NOT NULL,
    locked_until  timestamptz
);

CREATE TABLE rooms (
    id          uuid PRIMARY KEY,
    kind        text NOT NULL CHECK (kind IN ('public', 'private', 'direct')),
    name        text NOT NULL,
    topic       text NOT NULL DEFAULT '',
    created_by  uuid NOT NULL REFERENCES users (id),
    created_at  timestamptz NOT NULL DEFAULT now(),
    -- For direct rooms: the two user ids, sorted, so a pair has one room.
    direct_key  text UNIQUE
);
CREATE INDEX rooms_public_name ON rooms (lower(name) text_pattern_ops) WHERE kind = 'public';

CREATE TABLE memberships (
    room_id    uuid NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role       text NOT NULL CHECK (role IN ('owner', 'admin', 'member')),
    joined_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (room_id, user_id)
);
CREATE INDEX memberships_user ON memberships (user_id);

-- Transactional outbox: events are written with the change that causes
-- them and published to the Broker afterwards, so none is lost.
CREATE TABLE outbox (
    seq            bigserial PRIMARY KEY,
    id             uuid NOT NULL UNIQUE,
    type           text NOT NULL,
    partition_key  text NOT NULL,
    data           jsonb NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    sent_at        timestamptz
);
CREATE INDEX outbox_unsent ON outbox (seq) WHERE sent_at IS NULL;
