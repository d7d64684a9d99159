-- Blocks: blocker no longer hears from blocked in direct conversations
-- (no new 1:1 room, no sends into theirs, no notifications of their
-- mentions and direct messages). Read by blocker (their list) and by the
-- pair (OpenDirect, CheckMembership): the primary key serves both.
CREATE TABLE user_blocks (
    blocker     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    blocked     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (blocker, blocked),
    CHECK (blocker <> blocked)
);
