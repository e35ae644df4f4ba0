-- The physical size of a floor plan's image, in metres, so that positions on it (which the
-- console keeps as fractions of the image) can also be given in metres, with an accuracy.
ALTER TABLE floor_plans ADD COLUMN width_m DOUBLE PRECISION;
ALTER TABLE floor_plans ADD COLUMN height_m DOUBLE PRECISION;
