-- Step-trainer distance readings of devices owned, at reading time, by a curated customer.
-- customer_key is the owner at reading_at (see device_ownerships).
-- DISTKEY customer_key: co-located with accelerometer_readings for the training-set join;
-- SORTKEY reading_at: reports filter and group by time.
create table if not exists stedi.step_trainer_readings (
    serial_number       varchar(64)  not null,
    reading_at          timestamp    not null,
    customer_key        varchar(64)  not null,
    distance_cm         integer,
    primary key (serial_number, reading_at),
    foreign key (serial_number) references stedi.devices (serial_number),
    foreign key (customer_key) references stedi.customers (customer_key)
)
distkey (customer_key)
sortkey (reading_at);
