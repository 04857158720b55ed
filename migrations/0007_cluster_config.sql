-- Cluster-wide settings changed at run time (`baton config set`). A row overrides the default that
-- each coordinator compiled from its flags/env; no row = that default. Every write is announced on
-- the baton_config channel in the same transaction, so all coordinators re-read within a moment.
CREATE TABLE cluster_config (
  key text PRIMARY KEY,
  value jsonb NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now(),
  updated_by text NOT NULL DEFAULT ''
);
