-- REGEXP_SUBSTR, STR_TO_MAP, CONTAINED_IN, ARRAY_UNION, ARRAY_COMPLEMENT, HASH64, TRUNC and E() on campaign names and literals.
-- doc: https://advertising.amazon.com/API/docs/en-us/guides/amazon-marketing-cloud/amc-sql/functions
-- expect: ok
-- rows: some
SELECT
  REGEXP_SUBSTR(campaign, '[A-Za-z]+') AS first_word,
  STR_TO_MAP('mobile:Phone,desktop:PC', ',', ':')['mobile'] AS mobile_device,
  CONTAINED_IN(device_type, 'Phone', 'Tablet') AS on_mobile,
  CARDINALITY(ARRAY_UNION(ARRAY('a', 'b'), ARRAY('b', 'c'))) AS union_size,
  CARDINALITY(ARRAY_COMPLEMENT(ARRAY('a', 'b'), ARRAY('b'))) AS complement_size,
  HASH64(campaign) IS NOT NULL AS hashed,
  TRUNC(E(), 2) AS e_truncated,
  COUNT(DISTINCT user_id) AS users
FROM dsp_impressions
GROUP BY 1, 2, 3, 4, 5, 6, 7
