-- Patient consents (FHIR R4 Consent, docs/policy.md). The resource is kept as the JSON the
-- broker stores (server-assigned id, meta.versionId, meta.lastUpdated); nhs_number and status are
-- copied out of it so a request can find a patient's consents without parsing every row.
CREATE TABLE consent (
  id          TEXT    PRIMARY KEY,              -- server-assigned logical id
  nhs_number  TEXT    NOT NULL CHECK (length(nhs_number) = 10),
  status      TEXT    NOT NULL,                 -- Consent.status: active, inactive, ...
  version     INTEGER NOT NULL,                 -- meta.versionId, 1 on create
  resource    TEXT    NOT NULL,                 -- the Consent JSON
  created_at  INTEGER NOT NULL,                 -- UTC milliseconds since the epoch
  updated_at  INTEGER NOT NULL
);

-- "The consents of patient N" on every request.
CREATE INDEX consent_patient ON consent (nhs_number, id);
