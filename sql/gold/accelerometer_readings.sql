-- Accelerometer readings of consenting customers. The app may report several x/y/z at one instant:
-- reading_seq numbers them (ordered by x, y, z) so each keeps a key.
-- DISTKEY customer_key: co-located with step_trainer_readings for the training-set join;
-- SORTKEY reading_at: reports filter and group by time.
create table if not exists stedi.accelerometer_readings (
    customer_key        varchar(64)       not null,
    reading_at          timestamp         not null,
    reading_seq         integer           not null,
    x                   double precision,
    y                   double precision,
    z                   double precision,
    primary key (customer_key, reading_at, reading_seq),
    foreign key (customer_key) references stedi.customers (customer_key)
)
distkey (customer_key)
sortkey (reading_at);
