-- The Acme Analytics demo warehouse: a small, fictional subscription
-- business (B2B software sold per seat).  Build it with
--
--     sqlite3 warehouse.sqlite < warehouse.sql
--
-- Every table lives in SQLite's schema "main".  Money is in integer cents
-- (USD), timestamps are UTC ISO 8601 text, dates are YYYY-MM-DD.  The data
-- stops on 2024-05-31.  CONTENT.md describes how the dbt project, the Notion
-- handbook and the Metabase cards refer to these tables.

PRAGMA foreign_keys = ON;

BEGIN;

-- What we sell.  price_cents is per seat and per billing interval.
CREATE TABLE plans (
    plan_id          TEXT PRIMARY KEY,
    name             TEXT NOT NULL,
    billing_interval TEXT NOT NULL CHECK (billing_interval IN ('month', 'year')),
    price_cents      INTEGER NOT NULL CHECK (price_cents >= 0),
    is_public        BOOLEAN NOT NULL DEFAULT 1
);

-- One row per paying (or trialing) company.
CREATE TABLE customers (
    customer_id   INTEGER PRIMARY KEY,
    company_name  TEXT NOT NULL,
    billing_email TEXT NOT NULL UNIQUE,
    country_code  TEXT NOT NULL,
    segment       TEXT NOT NULL
                  CHECK (segment IN ('smb', 'mid_market', 'enterprise')),
    signed_up_at  TIMESTAMP NOT NULL
);

-- One-to-one with customers: the primary key is the foreign key.  A
-- customer has at most one profile; customer 8 has none yet.
CREATE TABLE customer_profiles (
    customer_id     INTEGER PRIMARY KEY
                    REFERENCES customers (customer_id),
    industry        TEXT,
    employee_count  INTEGER,
    account_manager TEXT
);

CREATE TABLE subscriptions (
    subscription_id INTEGER PRIMARY KEY,
    customer_id     INTEGER NOT NULL REFERENCES customers (customer_id),
    plan_id         TEXT NOT NULL REFERENCES plans (plan_id),
    status          TEXT NOT NULL CHECK (status IN
                        ('trialing', 'active', 'past_due', 'canceled')),
    seats           INTEGER NOT NULL DEFAULT 1 CHECK (seats > 0),
    started_at      TIMESTAMP NOT NULL,
    canceled_at     TIMESTAMP,
    cancel_reason   TEXT
);

CREATE TABLE invoices (
    invoice_id      INTEGER PRIMARY KEY,
    subscription_id INTEGER NOT NULL
                    REFERENCES subscriptions (subscription_id),
    invoice_number  TEXT NOT NULL UNIQUE,
    issued_at       DATE NOT NULL,
    due_at          DATE NOT NULL,
    currency        TEXT NOT NULL DEFAULT 'USD',
    total_cents     INTEGER NOT NULL,
    status          TEXT NOT NULL CHECK (status IN
                        ('draft', 'open', 'paid', 'void', 'uncollectible'))
);

-- A composite key: an invoice's lines are numbered from 1.
CREATE TABLE invoice_lines (
    invoice_id       INTEGER NOT NULL REFERENCES invoices (invoice_id),
    line_number      INTEGER NOT NULL,
    plan_id          TEXT REFERENCES plans (plan_id),
    description      TEXT NOT NULL,
    quantity         INTEGER NOT NULL,
    unit_price_cents INTEGER NOT NULL,
    amount_cents     INTEGER NOT NULL,
    PRIMARY KEY (invoice_id, line_number)
);

-- A composite foreign key: a credit note refunds part of one invoice line.
CREATE TABLE credit_notes (
    credit_note_id INTEGER PRIMARY KEY,
    invoice_id     INTEGER NOT NULL,
    line_number    INTEGER NOT NULL,
    amount_cents   INTEGER NOT NULL CHECK (amount_cents > 0),
    reason         TEXT NOT NULL,
    issued_at      DATE NOT NULL,
    CONSTRAINT credit_notes_invoice_line_fk FOREIGN KEY (invoice_id, line_number)
        REFERENCES invoice_lines (invoice_id, line_number)
);

CREATE TABLE payments (
    payment_id          INTEGER PRIMARY KEY,
    invoice_id          INTEGER NOT NULL REFERENCES invoices (invoice_id),
    paid_at             TIMESTAMP NOT NULL,
    amount_cents        INTEGER NOT NULL,
    method              TEXT NOT NULL
                        CHECK (method IN ('card', 'bank_transfer')),
    processor_charge_id TEXT UNIQUE
);

-- Product and lifecycle events, as the app emits them.
CREATE TABLE events (
    event_id        INTEGER PRIMARY KEY,
    customer_id     INTEGER NOT NULL REFERENCES customers (customer_id),
    subscription_id INTEGER REFERENCES subscriptions (subscription_id),
    event_type      TEXT NOT NULL,
    occurred_at     TIMESTAMP NOT NULL,
    properties      JSON
);

CREATE INDEX subscriptions_customer_idx ON subscriptions (customer_id);
CREATE INDEX invoices_subscription_idx ON invoices (subscription_id);
CREATE INDEX events_customer_time_idx ON events (customer_id, occurred_at);

-- Subscriptions that are billed now, with their monthly recurring revenue
-- (a yearly plan counts one twelfth of its price).
CREATE VIEW active_subscriptions AS
SELECT s.subscription_id,
       s.customer_id,
       s.plan_id,
       s.seats,
       s.started_at,
       s.seats * CASE p.billing_interval
                     WHEN 'year' THEN p.price_cents / 12
                     ELSE p.price_cents
                 END AS mrr_cents
FROM subscriptions s
JOIN plans p ON p.plan_id = s.plan_id
WHERE s.status IN ('active', 'past_due');

-- Invoiced and collected revenue per calendar month of issue.
CREATE VIEW revenue_by_month AS
SELECT strftime('%Y-%m', i.issued_at) AS month,
       COUNT(*) AS invoice_count,
       SUM(i.total_cents) AS invoiced_cents,
       SUM(COALESCE(pay.paid_cents, 0)) AS collected_cents
FROM invoices i
LEFT JOIN (SELECT invoice_id, SUM(amount_cents) AS paid_cents
           FROM payments GROUP BY invoice_id) pay
       ON pay.invoice_id = i.invoice_id
WHERE i.status NOT IN ('draft', 'void')
GROUP BY strftime('%Y-%m', i.issued_at);

-- Seed data --------------------------------------------------------------

INSERT INTO plans (plan_id, name, billing_interval, price_cents, is_public) VALUES
    ('starter',         'Starter',           'month',   2900, 1),
    ('team',            'Team',              'month',   4900, 1),
    ('business',        'Business',          'month',   9900, 1),
    ('business_annual', 'Business (annual)', 'year',  106900, 1),
    ('legacy_pro',      'Pro (2022)',        'month',   3900, 0);

INSERT INTO customers (customer_id, company_name, billing_email, country_code, segment, signed_up_at) VALUES
    (1, 'Northwind Bakeries',   'billing@northwind-bakeries.example', 'US', 'smb',        '2024-01-08T09:12:00Z'),
    (2, 'Blue Heron Logistics', 'ap@blueheron.example',               'CA', 'mid_market', '2024-01-22T15:40:00Z'),
    (3, 'Kestrel Health',       'finance@kestrel-health.example',     'GB', 'enterprise', '2024-02-05T08:03:00Z'),
    (4, 'Tidewater Books',      'owner@tidewater-books.example',      'US', 'smb',        '2024-02-19T19:27:00Z'),
    (5, 'Fjordline Studios',    'hei@fjordline.example',              'NO', 'smb',        '2024-05-24T07:55:00Z'),
    (6, 'Quarry & Co',          'accounts@quarry-co.example',         'DE', 'mid_market', '2024-03-11T10:30:00Z'),
    (7, 'Saguaro Solar',        'billing@saguaro-solar.example',      'US', 'mid_market', '2024-04-02T16:18:00Z'),
    (8, 'Lumen Legal',          'payables@lumen-legal.example',       'IE', 'enterprise', '2024-04-15T11:45:00Z');

INSERT INTO customer_profiles (customer_id, industry, employee_count, account_manager) VALUES
    (1, 'Food & beverage', 35,   NULL),
    (2, 'Logistics',       420,  'Priya Raman'),
    (3, 'Healthcare',      2300, 'Tomás Ortega'),
    (4, 'Retail',          6,    NULL),
    (5, 'Media',           14,   NULL),
    (6, 'Manufacturing',   260,  'Priya Raman'),
    (7, 'Energy',          180,  'Tomás Ortega');

INSERT INTO subscriptions (subscription_id, customer_id, plan_id, status, seats, started_at, canceled_at, cancel_reason) VALUES
    (1, 1, 'starter',         'active',    3,  '2024-01-08T09:20:00Z', NULL, NULL),
    (2, 2, 'team',            'active',    12, '2024-01-22T16:02:00Z', NULL, NULL),
    (3, 3, 'business_annual', 'active',    40, '2024-02-05T08:30:00Z', NULL, NULL),
    (4, 4, 'starter',         'canceled',  2,  '2024-02-19T19:31:00Z', '2024-04-19T08:00:00Z', 'too_expensive'),
    (5, 5, 'starter',         'trialing',  1,  '2024-05-24T08:01:00Z', NULL, NULL),
    (6, 6, 'team',            'past_due',  8,  '2024-03-11T10:41:00Z', NULL, NULL),
    (7, 7, 'team',            'canceled',  5,  '2024-04-02T16:25:00Z', '2024-05-02T09:00:00Z', 'upgraded'),
    (8, 7, 'business',        'active',    5,  '2024-05-02T09:00:00Z', NULL, NULL),
    (9, 8, 'business',        'active',    25, '2024-04-15T12:10:00Z', NULL, NULL);

-- One invoice per billing period up to 2024-05-31: monthly plans on the
-- same day every month, yearly plans once.  Trials are not invoiced.  Totals
-- are filled in from the lines below.
INSERT INTO invoices (invoice_id, subscription_id, invoice_number, issued_at, due_at, currency, total_cents, status)
WITH RECURSIVE period(n) AS (
    SELECT 0 UNION ALL SELECT n + 1 FROM period WHERE n < 4
),
billed AS (
    SELECT s.subscription_id, s.status AS sub_status,
           date(s.started_at, '+' || period.n || ' months') AS issued_at,
           s.canceled_at
    FROM subscriptions s
    JOIN plans p ON p.plan_id = s.plan_id
    JOIN period ON p.billing_interval = 'month' OR period.n = 0
    WHERE s.status <> 'trialing'
)
SELECT row_number() OVER (ORDER BY issued_at, subscription_id),
       subscription_id,
       printf('INV-2024-%04d', row_number() OVER (ORDER BY issued_at, subscription_id)),
       issued_at,
       date(issued_at, '+14 days'),
       'USD',
       0,
       CASE
           WHEN sub_status = 'past_due' AND issued_at >= '2024-05-01' THEN 'open'
           ELSE 'paid'
       END
FROM billed
WHERE issued_at <= '2024-05-31'
  AND (canceled_at IS NULL OR issued_at < date(canceled_at));

INSERT INTO invoice_lines (invoice_id, line_number, plan_id, description, quantity, unit_price_cents, amount_cents)
SELECT i.invoice_id, 1, p.plan_id,
       p.name || ' plan, ' || s.seats || ' seats',
       s.seats, p.price_cents, s.seats * p.price_cents
FROM invoices i
JOIN subscriptions s ON s.subscription_id = i.subscription_id
JOIN plans p ON p.plan_id = s.plan_id;

-- One-off services on the first invoice of two enterprise customers.
INSERT INTO invoice_lines (invoice_id, line_number, plan_id, description, quantity, unit_price_cents, amount_cents)
SELECT i.invoice_id, 2, NULL, 'Onboarding workshop', 1, 150000, 150000
FROM invoices i
WHERE i.subscription_id IN (3, 9)
  AND i.issued_at = (SELECT min(issued_at) FROM invoices j WHERE j.subscription_id = i.subscription_id);

UPDATE invoices
SET total_cents = (SELECT sum(amount_cents) FROM invoice_lines l
                   WHERE l.invoice_id = invoices.invoice_id);

-- Paid invoices: enterprise customers pay by bank transfer ten days after
-- issue, everybody else by card two days after.
INSERT INTO payments (payment_id, invoice_id, paid_at, amount_cents, method, processor_charge_id)
SELECT row_number() OVER (ORDER BY i.invoice_id),
       i.invoice_id,
       CASE c.segment WHEN 'enterprise'
           THEN i.issued_at || 'T10:00:00Z'
           ELSE date(i.issued_at, '+2 days') || 'T06:15:00Z'
       END,
       i.total_cents,
       CASE c.segment WHEN 'enterprise' THEN 'bank_transfer' ELSE 'card' END,
       CASE c.segment WHEN 'enterprise' THEN NULL
           ELSE printf('ch_demo%06d', i.invoice_id)
       END
FROM invoices i
JOIN subscriptions s ON s.subscription_id = i.subscription_id
JOIN customers c ON c.customer_id = s.customer_id
WHERE i.status = 'paid';

UPDATE payments
SET paid_at = date(substr(paid_at, 1, 10), '+10 days') || substr(paid_at, 11)
WHERE method = 'bank_transfer';

-- Two refunds against the line of a paid invoice.
INSERT INTO credit_notes (credit_note_id, invoice_id, line_number, amount_cents, reason, issued_at)
SELECT 1, l.invoice_id, l.line_number, 2900, 'seat removed mid-period', '2024-03-25'
FROM invoice_lines l JOIN invoices i ON i.invoice_id = l.invoice_id
WHERE i.subscription_id = 4 AND i.issued_at = '2024-03-19' AND l.line_number = 1;
INSERT INTO credit_notes (credit_note_id, invoice_id, line_number, amount_cents, reason, issued_at)
SELECT 2, l.invoice_id, l.line_number, 50000, 'workshop rescheduled, partial refund', '2024-05-20'
FROM invoice_lines l JOIN invoices i ON i.invoice_id = l.invoice_id
WHERE i.subscription_id = 9 AND l.line_number = 2;

INSERT INTO events (event_id, customer_id, subscription_id, event_type, occurred_at, properties) VALUES
    (1,  1, NULL, 'signed_up',             '2024-01-08T09:12:00Z', '{"source": "organic"}'),
    (2,  1, 1,    'subscription_started',  '2024-01-08T09:20:00Z', '{"plan": "starter", "seats": 3}'),
    (3,  2, NULL, 'signed_up',             '2024-01-22T15:40:00Z', '{"source": "partner"}'),
    (4,  2, 2,    'subscription_started',  '2024-01-22T16:02:00Z', '{"plan": "team", "seats": 12}'),
    (5,  3, NULL, 'signed_up',             '2024-02-05T08:03:00Z', '{"source": "sales"}'),
    (6,  3, 3,    'subscription_started',  '2024-02-05T08:30:00Z', '{"plan": "business_annual", "seats": 40}'),
    (7,  4, NULL, 'signed_up',             '2024-02-19T19:27:00Z', '{"source": "paid_search"}'),
    (8,  4, 4,    'subscription_started',  '2024-02-19T19:31:00Z', '{"plan": "starter", "seats": 2}'),
    (9,  6, NULL, 'signed_up',             '2024-03-11T10:30:00Z', '{"source": "sales"}'),
    (10, 6, 6,    'subscription_started',  '2024-03-11T10:41:00Z', '{"plan": "team", "seats": 8}'),
    (11, 7, NULL, 'signed_up',             '2024-04-02T16:18:00Z', '{"source": "organic"}'),
    (12, 7, 7,    'subscription_started',  '2024-04-02T16:25:00Z', '{"plan": "team", "seats": 5}'),
    (13, 8, NULL, 'signed_up',             '2024-04-15T11:45:00Z', '{"source": "sales"}'),
    (14, 8, 9,    'subscription_started',  '2024-04-15T12:10:00Z', '{"plan": "business", "seats": 25}'),
    (15, 4, 4,    'subscription_canceled', '2024-04-19T08:00:00Z', '{"reason": "too_expensive"}'),
    (16, 7, 7,    'plan_changed',          '2024-05-02T09:00:00Z', '{"from": "team", "to": "business"}'),
    (17, 7, 8,    'subscription_started',  '2024-05-02T09:00:00Z', '{"plan": "business", "seats": 5}'),
    (18, 6, 6,    'payment_failed',        '2024-05-13T06:15:00Z', '{"attempt": 1, "decline_code": "insufficient_funds"}'),
    (19, 6, 6,    'payment_failed',        '2024-05-20T06:15:00Z', '{"attempt": 2, "decline_code": "insufficient_funds"}'),
    (20, 2, 2,    'user_invited',          '2024-05-22T13:37:00Z', '{"role": "analyst"}'),
    (21, 5, NULL, 'signed_up',             '2024-05-24T07:55:00Z', '{"source": "organic"}'),
    (22, 5, 5,    'trial_started',         '2024-05-24T08:01:00Z', '{"plan": "starter", "trial_days": 14}');

COMMIT;
