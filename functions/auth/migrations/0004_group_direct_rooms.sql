-- Group direct conversations: 3 to 8 people with a fixed membership. Like a
-- 1:1 room, a group has one room per set of people: direct_key is the
-- sorted member ids joined by ':' (a 1:1 room's key keeps its format).
ALTER TABLE rooms DROP CONSTRAINT rooms_kind_check;
ALTER TABLE rooms ADD CONSTRAINT rooms_kind_check CHECK (kind IN ('public', 'private', 'direct', 'group'));
