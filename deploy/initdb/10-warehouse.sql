-- The warehouse database beside Dagster's own (docker-compose only; migrations create the tables).
CREATE DATABASE amc_reports;
