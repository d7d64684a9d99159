-- The search index: one row per message with the newest state the events
-- have told, whatever order they arrived in (each type has its own Trigger).
-- An edit, delete or flag that comes before its message waits here in a row
-- that is not yet stored, and the message fills it in.
CREATE TABLE messages (
    message_id   text PRIMARY KEY,
    room_id      text NOT NULL,
    seq          bigint NOT NULL DEFAULT 0,
    user_id      text NOT NULL DEFAULT '',
    username     text NOT NULL DEFAULT '',
    created_at   timestamptz,
    -- parley.message.stored has arrived: only stored rows are found.
    stored       boolean NOT NULL DEFAULT false,
    text         text NOT NULL DEFAULT '',
    -- When the text held was written: -infinity for the text as sent, else
    -- the edit's time. An edit replaces only an older text.
    text_at      timestamptz NOT NULL DEFAULT '-infinity',
    -- A delete is final: the text is dropped and no later edit brings any back.
    deleted      boolean NOT NULL DEFAULT false,
    -- Moderation's verdict and when it was made (null: never moderated).
    -- The text of a hidden message is kept, unindexed, for a restore, which
    -- carries none.
    hidden       boolean NOT NULL DEFAULT false,
    moderated_at timestamptz,
    -- 'simple': no stemming and no stop words, so any language, names and
    -- code match as typed (see the README). Null, so absent from the index,
    -- for anything no one may find.
    tsv tsvector GENERATED ALWAYS AS (
        CASE WHEN stored AND NOT deleted AND NOT hidden THEN to_tsvector('simple', text) END) STORED
);
CREATE INDEX messages_tsv ON messages USING gin (tsv);
