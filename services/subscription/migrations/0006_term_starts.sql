-- When a stacked term begins: subscription.plan_changed is published when a term of another
-- plan than the one before it begins (a renewal into a scheduled change, a purchase, code or
-- gift of another plan stacked, the first paid term after a trial), at its start, not when it
-- was bought; the clock job finds the terms not yet begun through a small partial index.
-- depends: 0002_renewals 0003_benefits 0004_codes 0005_refunds

-- A term has begun once its start has come and anything its beginning says has been said.
-- Terms written before this are taken as begun when they start in the past.
ALTER TABLE terms ADD COLUMN began boolean NOT NULL DEFAULT true;
UPDATE terms SET began = false WHERE start_time > now();
CREATE INDEX terms_not_begun ON terms (start_time) WHERE NOT began;
