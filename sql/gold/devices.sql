-- One row per step trainer (serial number) any customer has registered.
-- DISTSTYLE ALL: small dimension joined to step_trainer_readings by serial_number.
create table if not exists stedi.devices (
    serial_number       varchar(64)  not null,
    first_registered_at timestamp,
    primary key (serial_number)
)
diststyle all
sortkey (serial_number);
