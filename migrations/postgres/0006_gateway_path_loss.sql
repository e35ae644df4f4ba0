-- Per-gateway calibration of the path-loss model (RSSI at 1 m, exponent); empty means the
-- site's values (positioning.* in the configuration).
ALTER TABLE devices ADD COLUMN rssi_at_1m DOUBLE PRECISION;
ALTER TABLE devices ADD COLUMN path_loss_exponent DOUBLE PRECISION;
