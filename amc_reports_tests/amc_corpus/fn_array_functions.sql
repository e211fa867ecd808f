-- Array functions on literal arrays: ARRAY_CONTAINS, CARDINALITY, ARRAY_DISTINCT, ARRAY_INTERSECT, ARRAY_REMOVE, ARRAY_CAT, ARRAY_TO_STRING.
-- doc: https://advertising.amazon.com/API/docs/en-us/guides/amazon-marketing-cloud/amc-sql/functions
-- expect: ok
-- rows: some
SELECT
  ARRAY_CONTAINS(ARRAY('Phone', 'Tablet'), device_type) AS mobile,
  CARDINALITY(ARRAY_DISTINCT(ARRAY('a', 'a', 'b'))) AS distinct_letters,
  CARDINALITY(ARRAY_INTERSECT(ARRAY('a', 'b'), ARRAY('b', 'c'))) AS shared,
  CARDINALITY(ARRAY_REMOVE(ARRAY('a', 'b'), 'a')) AS left_after_remove,
  ARRAY_TO_STRING(ARRAY_CAT(ARRAY('a'), ARRAY('b')), ',') AS joined,
  COUNT(DISTINCT user_id) AS users
FROM dsp_impressions
GROUP BY 1, 2, 3, 4, 5
