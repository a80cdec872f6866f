-- Who owned each device when. Serial numbers were reused across customers: a reading belongs to the
-- customer who registered the device most recently at or before it; NULL bounds are open-ended.
-- DISTSTYLE ALL: small, joined by serial_number and time range.
create table if not exists stedi.device_ownerships (
    serial_number       varchar(64)  not null,
    customer_key        varchar(64)  not null,
    owned_from          timestamp,
    owned_until         timestamp,
    primary key (serial_number, customer_key),
    foreign key (serial_number) references stedi.devices (serial_number),
    foreign key (customer_key) references stedi.customers (customer_key)
)
diststyle all
sortkey (serial_number, owned_from);
