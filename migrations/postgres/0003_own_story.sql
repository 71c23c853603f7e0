-- kabar's schema on PostgreSQL, version 3: an article stored as the first of its story
-- (inserted with story_id 0) is its story's id in the same statement, not in a second
-- round trip (`UPDATE … SET story_id = id`); SQLite's writer still runs that update.
CREATE FUNCTION articles_own_story() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.story_id = 0 THEN
        NEW.story_id := NEW.id;
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER articles_own_story BEFORE INSERT ON articles
    FOR EACH ROW EXECUTE FUNCTION articles_own_story();
