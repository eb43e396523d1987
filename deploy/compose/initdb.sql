-- Run once by the postgres image on a new data volume: one database per alprfed store, owned
-- by the alprfed role the image creates (POSTGRES_USER). Names: alprfed.demo.compose.
CREATE DATABASE gateway OWNER alprfed;
CREATE DATABASE node_sjpd OWNER alprfed;
CREATE DATABASE node_chicago_pd OWNER alprfed;
