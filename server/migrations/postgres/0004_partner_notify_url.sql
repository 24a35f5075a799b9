-- Where server-to-server notifications go (design section 7).
ALTER TABLE partners ADD COLUMN notify_url TEXT;
