"""A synthetic West African monsoon: the embedded demo data and the workhorse of the tests.

Daily fields on any regular grid (:class:`~sowcast.data.grid.Grid`, regional or global),
deterministic from a seed, in canonical form (:mod:`sowcast.data.schema`). It is not a
climate model: it is a small set of explicit equations whose parameters are chosen so
that the seasonal march, the intermittency and the year-to-year variation of the rains
look like West Africa's, and so that an onset forecast has something to predict.

Notation: ``t`` day, ``y`` latitude (deg N), ``x`` longitude (deg E), ``s`` the day of the
year scaled to 365.25 days (``s = (doy - 0.5) * 365.25 / days_in_year``), ``L(x, y)`` the
0/1 land-sea mask, ``h(x, y)`` orography (m), ``logistic(z) = 1 / (1 + exp(-z))``.

Slow processes (continuous from a fixed epoch, 1900-01-01, so that a day's values do not
depend on the requested period)
    * ocean modes ``a1`` (equatorial Atlantic / Gulf of Guinea cold tongue, "Atlantic
      Nino") and ``a2`` (tropical North Atlantic): daily AR(1),
      ``a(t) = r a(t-1) + sqrt(1 - r^2) sd e(t)``, ``r = exp(-1/tau)``; ``tau1 = 120 d``,
      ``sd1 = 0.5 K``; ``tau2 = 150 d``, ``sd2 = 0.35 K`` (SST anomalies persist for a
      season; Atlantic Nino index sd ~0.5 K: Zebiak 1993, Caniaux et al. 2011).
      ``a1_lag`` is the trailing exponential mean of ``a1`` (``LAG_TAU = 45 d``): the
      monsoon answers the SST anomaly of the past month or two.
    * ``ocean_index(t, x, y) = a1(t) P1(x, y) + a2(t) P2(x, y) + 0.12 K n(t, x, y)`` with
      Gaussian patterns ``P1`` centred at (1 S, 10 W; sd 5 x 18 deg) and ``P2`` at
      (15 N, 35 W; sd 8 x 20 deg), ``n`` a smooth AR(1) noise field (tau 20 d, 5 deg).
    * MJO: ``M(t, x, y) = A(t) cos(x - theta(t)) exp(-(y / 25)^2)`` (zonal wavenumber 1,
      eastward), ``d theta / dt = 2 pi / T(t)``, period ``T = clip(45 + 9 z1, 30, 60) d``,
      amplitude ``A = exp(0.45 z2 - 0.1)``; ``z1, z2`` unit AR(1) (tau 25 and 30 d)
      (Madden & Julian 1994; West African rain modulation +-20-40 %: Matthews 2004,
      Pohl et al. 2009).

Rain band (ITCZ) over West Africa (x in about 30 W..35 E)
    * latitude ``phi(t) = phi_clim(s - D(t)) - SHIFT_PER_K a1_lag(t) w(s)``, ``phi_clim``
      piecewise linear through :data:`ITCZ_KNOTS`: -3 N in January (rain over the Gulf
      and south of it), 4-5 N in April-May, 6.5 N mid-June, a jump to ~10 N around
      27 June (the "monsoon jump", mean 24 June, sd 8 days: Sultan & Janicot 2003),
      11.5 N mid-August, 9.5 N late September, 5 N on 1 November.
    * delay ``D(t) = DELAY_PER_K a1_lag(t) + e_year w(s)`` days, ``DELAY_PER_K = 12 d/K``,
      ``SHIFT_PER_K = 0.6 deg/K``: a warm Gulf of Guinea slows and holds back the
      northward march (weaker meridional SST gradient; Okumura & Xie 2004, Brandt et al.
      2011); ``e_year ~ N(0, 3 d)`` drawn per year; ``w(s) = (1 - cos(2 pi s/365.25))/2``
      is zero in January, so years join smoothly.
    * outside West Africa (global grids) ``phi = 5 + (4 + 8 c) cos(2 pi (s - 225)/365.25)``,
      ``c`` the land fraction smoothed over 8 deg; a box weight ``w_wa(x, y)`` blends them.
    * rain potential (expected rain, mm/day)
      ``R0 = [B G K (1 + 0.3 a1 g_c + (0.35 a2 - 0.15 a1)(1 - g_c)) + R_mid] F_geo (1 - 0.6 C)``,
      ``R = R0 exp(clip(0.3 M + 0.4 W - 0.08 E^2 + 0.35 N - 0.06, -3, 1.6))``, with
      ``G = exp(-(y - phi)^2 / (2 sd^2))``, sd 3.5 deg south of ``phi`` and 4 deg north
      (5 deg before the jump, ``early = logistic(8 - phi)``: squall lines run ahead);
      ``K = logistic(phi + 7.5 + 2 early - y)`` cuts the band off at the intertropical
      discontinuity (ITD; desert dry north of it); ``B = 6.5 clip(1 - 0.018 (|y| - 5), 0.4,
      1.2) (0.4 + 0.6 logistic((phi - 1) / 1.5))`` mm/day; ``g_c = logistic((8 - y)/1.5)``
      (warm Gulf of Guinea: wetter coast, drier Sahel; warm north Atlantic: wetter Sahel;
      Giannini et al. 2003, Losada et al. 2010); ``R_mid`` a mid-latitude storm track
      (2.2 +- 0.5 mm/day at 47 deg); ``F_geo = (1 + h / 1500 m)`` times a wet Guinea coast
      (+60 % at 9 N 12.5 W) and a dry Dahomey gap (-40 % at 6.5 N 1 E); ``C`` the cold
      tongue (see SST); ``W`` the easterly waves, ``E`` their envelope and ``N`` a smooth
      AR(1) noise (tau 1.5 d, 3 deg).
    * African easterly waves: ``W = E (C_w - S_w) / sqrt 2`` (rain just ahead of the trough;
      Kiladis et al. 2006) with ``C_w + i S_w = sum_j r_j exp(i theta_j) / norm``,
      ``theta_j = 2 pi (X + c_j t) / lambda_j + psi_j``, ``X`` zonal distance in km; six
      components per year, ``lambda_j ~ U(2000, 4000) km``, ``c_j ~ U(7, 9) m/s`` westward
      (periods 3-5 days: Burpee 1974, Reed et al. 1977), Rayleigh ``r_j``; the envelope
      ``E`` limits them to 60 W..35 E, to ``phi + 2 +- 4 deg`` and to the season with the
      band north of 5 N.
    * daily rain, a mixed occurrence x amount model (Stern & Coe 1984): wet with
      probability ``p = 0.9 (1 - exp(-(R / 4)^2.5))`` (intermittent pre-onset showers,
      frequent rain in the core season), decided by a latent Gaussian field correlated over
      ~150 km (1.5-degree lattice); amount ``~ Gamma(k = 0.7, mean min(R / p, 12 + R))``
      (heavy tail). Calibrated on Niamey 1940-1980 (`daily_niger.csv`: 571 mm/yr, 69 %
      dry days in JJAS, wet-day mean 13 mm, Sivakumar onset 30 June +- 19 days) and the
      climatological annual totals (coast 1200-1500 mm, Sahel 400-700 mm).

Coupled fields
    * SST ``= 300.5 - 42 sin^2 y + 0.12 y cos(2 pi (s - 235)/365.25) - 4 C + ocean_index``
      (K), cold tongue ``C = exp(-((y + 1)/3)^2/2 - ((x + 5)/15)^2/2) ((1 + cos(2 pi
      (s - 215)/365.25))/2)^2``, strongest in July-August (Caniaux et al. 2011).
    * 2 m temperature over land: clear-sky ``T_c = 301.5 - 45 sin^2 y + 6 exp(-((|y| -
      18)/9)^2) + 0.42 sgn(y) max(|y| - 4, 0) cos(2 pi (s - 160)/365.25)``, cloudy
      ``T_0 = T_c - (1 + 3 clip((|y| - 6)/8, 0, 1)) (1 - exp(-R0/6))`` (clouds cool the
      Sahel most: the pre-monsoon maximum in May), ``T = T_0 - 0.0065 h - 2 (1 - exp(-rain
      / 10)) + 1 K n_T`` (lapse rate, cooler rainy days), relaxed towards ``SST - 0.5``
      near coasts; over sea ``SST - 0.8 + 0.3 K n_T``. Sahel (14 N): ~305 K in May, ~301 K
      in August, ~298 K in January.
    * specific humidity ``q = RH q_sat(T, p_s)`` (Bolton 1980), over land ``RH = 0.15 +
      0.55 m + 0.15 wet + 0.06 n_q`` with the monsoon-air fraction ``m = logistic((ITD +
      0.5 - y)/1.5)``, over sea 0.78: moist under and south of the band, ~3 g/kg in the
      Harmattan.
    * 10 m wind: ``u = -4 (1 - m) + m (-3 + 5 logistic(y / 2))``, ``v = -3 (1 - m) + 3 m``
      (south-westerly monsoon under ``m``, north-easterly Harmattan north of the ITD, south-
      easterly trades south of the equator), plus easterly-wave ``v' = 2.5 E S_w``, MJO
      ``u' = 1.5 M`` and 1.5 m/s AR(1) noise; zonal trades and westerlies elsewhere.
    * mean sea-level pressure ``101500 + 900 exp(-((|y| - 32)/10)^2) - 300 exp(-(y -
      phi)^2/50) - 1200 exp(-((|y| - 60)/8)^2) - 100 c max(T_0 - 298, 0) - 120 E C_w
      - 80 M`` Pa plus noise: subtropical highs, equatorial trough, subpolar lows, the
      Saharan heat low, wave troughs.
    * statics: ``land_sea_mask`` from coarse coastline polygons (the West African coast
      traced through Dakar, Conakry, Cape Palmas, Abidjan, Lagos, Douala; crude other
      continents), ``orography`` = 250 m over land plus Gaussian massifs (Fouta Djallon,
      Guinea highlands, Jos, Adamawa, Mount Cameroon, Air, Hoggar, Tibesti...).

Determinism: the slow processes are drawn once from ``(seed, process)`` over the whole
epoch 1900-2100; the noise lattices of a year come from streams seeded by ``(seed, year,
process)``; rain amounts are drawn per block of days (block boundaries fixed by the grid
size, :data:`BLOCK_POINTS`) from ``(seed, year, block)``. So a given (seed, grid, day, grid
point) has the same values whatever period is asked for, and a short request on a big
grid computes only the blocks it needs. Noise fields restart from their stationary
distribution each 1 January (an invisible jump in the dry season). Cost: about 1 s of one
core per million grid-point days (the 27 x 37 demo, 20 years: ~6 s).
"""

from __future__ import annotations

import sys
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from sowcast.atomic import atomic_path
from sowcast.data.grid import Grid
from sowcast.data.schema import COORD_ATTRS, PRECIPITATION_ACCUMULATION, cf_attrs
from sowcast.errors import SowcastError

VERSION = "1"
EPOCH = pd.Timestamp("1900-01-01")
LAST_DAY = pd.Timestamp("2100-12-31")
TIME_UNITS = "days since 1950-01-01"
YEAR = 365.25

TIME_VARYING = (
    "total_precipitation", "2m_temperature", "2m_specific_humidity",
    "10m_u_component_of_wind", "10m_v_component_of_wind", "mean_sea_level_pressure",
    "ocean_index",
)
STATIC = ("land_sea_mask", "orography")

# Rain-band latitude over West Africa: (day of year, deg N), piecewise linear, periodic.
ITCZ_KNOTS = np.array([
    (15, -3.0), (60, 1.0), (105, 4.0), (135, 5.0), (165, 6.0), (172, 6.5), (185, 9.8),
    (200, 10.5), (225, 11.5), (245, 11.0), (265, 9.5), (285, 7.0), (305, 5.0),
    (335, 1.0), (350, -1.5),
])
DELAY_PER_K = 12.0          # days of delay of the northward march per K of a1
SHIFT_PER_K = 0.6           # deg southward shift of the rain band per K of a1
LAG_TAU = 45.0              # days, the monsoon answers the trailing mean of a1
YEAR_DELAY_SD = 3.0         # days, intrinsic year-to-year delay
OCEAN_MODES = ((120.0, 0.5), (150.0, 0.35))   # (tau days, sd K) of a1, a2
SIGMA_SOUTH, SIGMA_NORTH = 3.5, 4.0           # deg, rain band half-widths
SIGMA_NORTH_EARLY = 1.0     # deg, wider northern flank before the jump (Sahel squall lines)
ITD_OFFSET = 7.5            # deg, intertropical discontinuity north of the rain maximum
ITD_OFFSET_EARLY = 2.0      # deg, further north before the jump
BAND_RAIN = 6.5             # mm/day, rain band amplitude at 5 N
P_MAX, R_HALF, P_POWER = 0.9, 4.0, 2.5   # p = P_MAX (1 - exp(-(R / R_HALF)^P_POWER))
MU_LOW = 12.0               # mm, wet-day mean is at most MU_LOW + R (isolated dry-season showers)
GAMMA_SHAPE = 0.7
R_EARTH_KM = 6371.0

# Massifs: (lat, lon, height m, sd lat deg, sd lon deg).
MASSIFS = [
    (11.0, -12.0, 900, 1.5, 1.5),    # Fouta Djallon
    (8.0, -9.0, 700, 1.2, 1.2),      # Guinea highlands (Nimba)
    (9.8, 8.9, 1100, 0.9, 0.9),      # Jos plateau
    (7.0, 13.0, 1100, 1.5, 1.5),     # Adamawa
    (4.3, 9.3, 1600, 0.6, 0.6),      # Mount Cameroon / Cameroon line
    (18.0, 8.5, 1200, 1.5, 1.2),     # Air
    (23.5, 5.5, 1500, 2.0, 2.0),     # Hoggar
    (21.0, 18.0, 1700, 2.0, 2.0),    # Tibesti
    (13.0, 24.0, 1300, 1.5, 1.5),    # Jebel Marra
    (9.0, 39.0, 2000, 4.0, 3.0),     # Ethiopian highlands
    (-3.0, 35.0, 1300, 6.0, 4.0),    # East African plateau
    (31.5, -6.0, 1800, 1.5, 4.0),    # Atlas
    (46.0, 10.0, 1500, 1.5, 3.0),    # Alps
    (33.0, 88.0, 4500, 5.0, 12.0),   # Tibet / Himalaya
    (45.0, -112.0, 1800, 8.0, 5.0),  # Rockies
    (-20.0, -68.0, 3500, 14.0, 2.5), # Andes
    (72.0, -40.0, 2000, 6.0, 10.0),  # Greenland
    (-82.0, 0.0, 2500, 8.0, 400.0),  # Antarctica
]

# Coarse coastlines, (lon, lat) vertices; land is the even-odd interior of any polygon.
_AFRICA = [
    (-5.9, 35.8), (-6.9, 34.0), (-9.6, 30.4), (-12.9, 27.9), (-14.5, 26.1), (-16.0, 23.7),
    (-17.1, 20.8), (-16.4, 19.4), (-16.0, 18.1), (-16.5, 16.0), (-17.5, 14.7),
    (-16.8, 13.5), (-16.7, 12.4), (-15.5, 11.5), (-14.7, 10.6), (-13.7, 9.5), (-13.2, 8.4),
    (-12.5, 7.4), (-10.8, 6.3), (-9.0, 5.0), (-7.6, 4.35), (-6.0, 4.9), (-4.0, 5.2),
    (-2.0, 4.75), (-0.2, 5.5), (1.2, 6.1), (2.4, 6.35), (3.4, 6.4), (4.8, 5.5), (6.0, 4.3),
    (7.5, 4.4), (8.5, 4.6), (9.3, 3.9), (9.9, 2.9), (9.6, 1.0), (8.7, -0.7), (9.6, -2.5),
    (11.0, -3.8), (12.2, -6.0), (13.2, -8.8), (13.5, -12.0), (11.8, -17.2), (14.5, -22.9),
    (15.2, -27.0), (16.5, -28.6), (18.4, -34.0), (20.0, -34.8), (25.6, -34.0),
    (28.0, -32.8), (31.0, -29.8), (32.9, -26.0), (35.5, -23.8), (35.3, -21.0),
    (34.8, -19.8), (37.0, -17.5), (40.5, -15.0), (40.5, -10.5), (39.3, -6.8), (39.7, -4.0),
    (41.5, -1.7), (45.3, 2.0), (48.0, 5.0), (49.5, 8.0), (51.3, 11.8), (45.0, 10.4),
    (43.2, 11.6), (42.0, 14.0), (39.5, 15.6), (37.2, 19.0), (35.5, 23.5), (33.5, 27.0),
    (32.6, 29.9), (32.3, 31.3), (29.9, 31.2), (25.0, 31.6), (20.0, 32.0), (19.0, 30.3),
    (15.1, 32.4), (13.2, 32.9), (11.0, 33.5), (10.2, 36.8), (9.8, 37.3), (3.0, 36.8),
    (-1.0, 35.6), (-2.9, 35.3), (-5.3, 35.9),
]
_EURASIA = [
    (-5.6, 36.0), (-9.0, 37.0), (-9.5, 39.0), (-9.3, 43.0), (-1.8, 43.4), (-1.2, 46.0),
    (-4.5, 48.4), (1.6, 50.9), (4.0, 51.9), (8.0, 53.6), (8.6, 57.1), (10.6, 57.7),
    (5.0, 59.0), (5.0, 62.0), (13.0, 67.5), (20.0, 70.0), (28.0, 71.0), (33.0, 69.5),
    (41.0, 67.0), (53.0, 68.5), (60.0, 69.0), (68.0, 73.0), (80.0, 73.5), (100.0, 77.7),
    (113.0, 73.5), (130.0, 71.0), (150.0, 71.5), (170.0, 70.0), (179.9, 68.5),
    (179.9, 65.0), (170.0, 60.0), (163.0, 62.0), (162.0, 56.0), (156.7, 51.0),
    (155.5, 56.0), (151.0, 59.5), (142.0, 59.0), (137.5, 54.0), (141.0, 52.0),
    (140.5, 48.5), (135.0, 43.5), (131.0, 42.5), (129.4, 36.0), (126.5, 34.5),
    (126.0, 37.5), (124.5, 40.0), (121.0, 40.8), (118.0, 39.0), (119.5, 37.2),
    (122.5, 37.3), (120.0, 34.0), (121.8, 31.0), (122.0, 29.0), (119.5, 25.5),
    (114.0, 22.3), (110.0, 21.0), (108.0, 21.5), (105.5, 18.5), (109.0, 12.0),
    (106.5, 9.0), (104.8, 8.6), (103.0, 10.5), (100.5, 13.5), (99.2, 9.5), (100.3, 6.5),
    (103.4, 3.8), (104.2, 1.4), (101.3, 2.8), (98.3, 8.2), (98.5, 13.0), (97.6, 16.5),
    (94.2, 16.0), (94.5, 19.5), (92.0, 22.0), (90.0, 21.8), (86.9, 21.5), (85.0, 19.5),
    (80.3, 15.5), (80.2, 13.0), (79.8, 10.3), (77.5, 8.1), (76.3, 9.9), (74.8, 12.9),
    (72.8, 19.0), (72.5, 21.5), (69.5, 22.5), (67.0, 24.8), (61.6, 25.2), (57.3, 25.8),
    (56.5, 27.2), (50.8, 30.0), (48.0, 30.0), (50.0, 26.5), (51.6, 25.3), (54.5, 24.3),
    (56.3, 26.2), (56.5, 24.5), (59.8, 22.5), (57.8, 19.0), (55.0, 17.0), (52.0, 16.0),
    (48.0, 14.0), (45.0, 12.8), (43.3, 12.7), (42.7, 15.5), (39.2, 21.5), (36.5, 26.0),
    (34.9, 29.5), (34.2, 31.3), (35.0, 33.0), (35.9, 35.9), (36.2, 36.6), (32.0, 36.2),
    (30.0, 36.3), (27.3, 37.0), (26.2, 39.5), (26.0, 40.8), (22.5, 36.5), (21.0, 38.5),
    (19.5, 41.5), (16.0, 43.5), (13.5, 45.6), (12.3, 44.5), (14.0, 42.5), (16.0, 41.5),
    (18.5, 40.1), (15.6, 38.0), (15.6, 40.1), (12.4, 41.8), (10.3, 43.5), (8.8, 44.4),
    (6.0, 43.1), (3.2, 43.2), (3.2, 41.9), (0.9, 41.0), (-0.3, 39.5), (0.2, 38.7),
    (-1.0, 37.6), (-2.2, 36.7), (-4.4, 36.7),
]
_NORTH_AMERICA = [
    (-165.0, 68.5), (-156.5, 71.3), (-141.0, 69.6), (-128.0, 70.2), (-115.0, 68.8),
    (-95.0, 68.0), (-82.0, 69.0), (-80.0, 63.0), (-77.0, 60.0), (-64.5, 60.3),
    (-61.0, 56.0), (-55.7, 52.0), (-59.5, 47.6), (-64.8, 47.8), (-61.0, 45.5),
    (-66.0, 44.5), (-70.5, 41.8), (-74.0, 40.5), (-75.8, 35.2), (-81.0, 31.5),
    (-80.0, 26.8), (-80.4, 25.2), (-81.8, 26.5), (-82.8, 28.0), (-84.0, 30.0),
    (-89.5, 30.2), (-89.4, 29.0), (-94.0, 29.6), (-97.2, 27.6), (-97.6, 22.0),
    (-96.1, 19.2), (-94.5, 18.2), (-91.0, 19.0), (-90.4, 21.0), (-87.0, 21.5),
    (-87.8, 18.5), (-88.5, 15.9), (-83.2, 15.0), (-83.7, 11.0), (-81.0, 8.8),
    (-77.4, 8.0), (-79.6, 7.4), (-81.7, 8.3), (-85.7, 10.0), (-87.5, 13.0),
    (-91.5, 14.0), (-94.5, 16.2), (-96.5, 15.7), (-100.0, 17.0), (-105.5, 20.3),
    (-105.7, 22.5), (-109.4, 23.2), (-114.8, 31.5), (-117.2, 32.7), (-120.6, 34.6),
    (-122.5, 37.8), (-124.2, 40.4), (-124.0, 46.2), (-124.7, 48.4), (-127.5, 50.8),
    (-131.0, 54.5), (-136.0, 58.5), (-140.0, 59.8), (-147.0, 60.5), (-152.0, 59.0),
    (-158.0, 57.0), (-162.5, 55.0), (-158.0, 58.6), (-162.0, 60.0), (-165.0, 62.5),
    (-166.0, 64.5), (-168.0, 65.6),
]
_GREENLAND = [
    (-73.0, 78.0), (-60.0, 82.0), (-30.0, 83.5), (-20.0, 80.0), (-20.0, 75.0),
    (-22.0, 70.0), (-33.0, 68.0), (-43.0, 60.0), (-48.0, 61.0), (-52.0, 65.0),
    (-54.0, 70.0), (-58.0, 75.5), (-68.0, 76.5),
]
_SOUTH_AMERICA = [
    (-77.3, 8.6), (-75.5, 10.5), (-71.5, 12.4), (-71.0, 11.0), (-68.0, 10.5),
    (-64.0, 10.7), (-61.5, 10.0), (-57.0, 6.0), (-52.0, 5.0), (-50.0, 1.8), (-48.5, -1.0),
    (-44.0, -2.5), (-38.5, -3.7), (-35.2, -5.8), (-34.9, -8.0), (-38.5, -13.0),
    (-39.0, -17.8), (-40.3, -20.3), (-43.2, -22.9), (-48.5, -26.5), (-50.0, -29.8),
    (-53.0, -33.5), (-56.0, -34.9), (-57.5, -36.0), (-57.5, -38.0), (-62.0, -39.0),
    (-65.0, -41.0), (-65.0, -45.0), (-67.5, -46.5), (-69.0, -51.5), (-68.5, -54.5),
    (-67.3, -55.9), (-72.0, -53.5), (-75.0, -50.0), (-74.0, -44.0), (-73.0, -36.8),
    (-71.6, -33.0), (-71.4, -29.9), (-70.4, -23.6), (-70.3, -18.5), (-76.2, -13.8),
    (-77.1, -12.0), (-79.0, -8.1), (-81.3, -5.0), (-80.0, -2.2), (-80.1, 0.8),
    (-78.8, 1.8), (-77.3, 4.0), (-77.5, 7.0),
]
_AUSTRALIA = [
    (113.5, -22.0), (114.2, -26.0), (115.0, -34.0), (117.9, -35.1), (123.0, -33.9),
    (131.0, -31.5), (135.5, -34.9), (138.0, -35.6), (140.0, -37.9), (145.0, -38.5),
    (150.0, -37.5), (153.5, -28.0), (153.1, -25.0), (150.0, -22.0), (145.5, -15.0),
    (142.5, -10.7), (141.5, -12.5), (140.8, -17.5), (137.0, -15.8), (136.5, -12.0),
    (132.0, -11.2), (129.5, -15.0), (126.0, -14.0), (122.2, -18.0), (118.0, -20.3),
]
_ISLANDS = [
    [(49.3, -12.0), (50.5, -15.5), (47.0, -25.0), (44.0, -25.0), (43.3, -22.0),
     (44.3, -16.2), (47.0, -14.5)],                                          # Madagascar
    [(109.0, 1.5), (117.0, 7.0), (119.0, 5.0), (117.5, 1.0), (116.0, -4.0), (110.5, -3.0),
     (109.0, -1.0)],                                                         # Borneo
    [(95.3, 5.6), (98.5, 4.0), (104.0, -1.0), (106.0, -6.0), (104.5, -5.9),
     (101.0, -2.5), (97.5, 2.0)],                                            # Sumatra
    [(105.0, -6.8), (114.5, -7.8), (114.5, -8.8), (106.0, -7.5)],            # Java
    [(131.0, -1.0), (141.0, -2.5), (150.5, -10.5), (143.0, -9.2), (138.0, -8.3),
     (135.0, -4.3)],                                                         # New Guinea
    [(130.5, 31.3), (131.5, 34.5), (140.8, 35.7), (141.9, 39.5), (141.4, 41.4),
     (145.5, 43.3), (141.9, 45.5), (139.8, 42.5), (139.8, 38.0), (136.0, 35.5),
     (131.0, 34.3)],                                                         # Japan
    [(-5.7, 50.0), (1.7, 51.0), (1.7, 52.7), (-0.2, 54.2), (-2.0, 55.9), (-1.8, 57.6),
     (-3.0, 58.6), (-5.0, 58.6), (-6.2, 56.5), (-4.8, 54.8), (-3.0, 53.4),
     (-5.2, 51.8)],                                                          # Great Britain
    [(-6.0, 52.2), (-6.2, 54.0), (-5.5, 55.2), (-8.0, 55.3), (-10.0, 54.0),
     (-10.2, 51.8), (-8.0, 51.6)],                                           # Ireland
]
POLYGONS = [_AFRICA, _EURASIA, _NORTH_AMERICA, _GREENLAND, _SOUTH_AMERICA, _AUSTRALIA,
            *_ISLANDS]


# ----------------------------------------------------------------------------- helpers
def _logistic(z: np.ndarray | float) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(z, dtype=float)))


def _norm_cdf(z: np.ndarray) -> np.ndarray:
    """Standard normal CDF via erf (Abramowitz & Stegun 7.1.26, |error| < 1.5e-7)."""
    x = np.abs(z) / np.sqrt(2.0)
    t = 1.0 / (1.0 + 0.3275911 * x)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741
                + t * (-1.453152027 + t * 1.061405429))))
    erf = 1.0 - poly * np.exp(-x * x)
    return 0.5 * (1.0 + np.sign(z) * erf)


def _rng(seed: int, year: int, name: str) -> np.random.Generator:
    """Independent stream per (seed, year, process); year 0 for the epoch-long processes."""
    return np.random.default_rng([seed, year, zlib.crc32(name.encode())])


def _ar1(noise: np.ndarray, tau: float, n: int) -> np.ndarray:
    """First ``n`` values of a unit-variance AR(1), ``x_t = r x_{t-1} + sqrt(1-r^2) e_t``,
    ``r = exp(-1/tau)``, started from its stationary distribution (``x_0 = e_0``)."""
    r = float(np.exp(-1.0 / tau))
    b = float(np.sqrt(1.0 - r * r))
    e = noise[:n].tolist()
    out = [0.0] * n
    x = e[0] if n else 0.0
    for i in range(n):
        x = r * x + b * e[i] if i else x
        out[i] = x
    return np.asarray(out)


def _ema(x: np.ndarray, tau: float) -> np.ndarray:
    """Trailing exponential mean ``y_t = r y_{t-1} + (1 - r) x_t``, ``r = exp(-1/tau)``, ``y_0 = x_0``."""
    r = float(np.exp(-1.0 / tau))
    out = x.tolist()
    for i in range(1, len(out)):
        out[i] = r * out[i - 1] + (1.0 - r) * out[i]
    return np.asarray(out)


def _window_sum(a: np.ndarray, n: int) -> np.ndarray:
    """Sums over ``n`` consecutive steps along axis 0: element ``i`` is ``a[i:i+n].sum(0)``."""
    c = np.concatenate([np.zeros((1, *a.shape[1:])), np.cumsum(a, axis=0)])
    return c[n:] - c[:-n]


def _interp_matrix(points: np.ndarray, spacing: float, periodic: bool) -> np.ndarray:
    """Linear interpolation from a lattice of ``spacing`` to ``points``, rows scaled to
    unit sum of squares so that interpolated white noise keeps unit variance."""
    if periodic:
        n = max(3, int(round(360.0 / spacing)))
        step = 360.0 / n
        f = (points + 180.0) / step
        i = np.floor(f).astype(int)
        w = f - i
        i0, i1 = i % n, (i + 1) % n
    else:
        lo = np.floor(points.min() / spacing) * spacing - spacing
        n = int(np.ceil((points.max() + spacing - lo) / spacing)) + 2
        f = (points - lo) / spacing
        i0 = np.clip(np.floor(f).astype(int), 0, n - 2)
        w = f - i0
        i1 = i0 + 1
    m = np.zeros((len(points), n))
    rows = np.arange(len(points))
    np.add.at(m, (rows, i0), 1.0 - w)
    np.add.at(m, (rows, i1), w)
    return m / np.sqrt((m ** 2).sum(axis=1, keepdims=True))


@dataclass(frozen=True)
class _LatticeNoise:
    """Unit-variance noise on a coarse lattice, interpolated to the grid block by block."""

    lattice: np.ndarray    # (day, lattice lat, lattice lon)
    wy: np.ndarray         # (grid lat, lattice lat)
    wx: np.ndarray         # (grid lon, lattice lon)

    def days(self, a: int, b: int) -> np.ndarray:
        """The noise on the grid for days ``a..b-1`` of the year, ``(day, lat, lon)``."""
        return np.matmul(np.matmul(self.wy, self.lattice[a:b]), self.wx.T)


def _lattice_noise(rng: np.random.Generator, n_days: int, grid: Grid, spacing: float,
                   tau: float | None) -> _LatticeNoise:
    """White (or AR(1) in time with e-folding ``tau`` days) unit normal noise on a lattice
    of ``spacing`` degrees (at least the grid's), linearly interpolated to the grid."""
    spacing = max(spacing, _resolution(grid))
    wy = _interp_matrix(grid.lat, spacing, periodic=False)
    wx = _interp_matrix(grid.lon, spacing, periodic=grid.is_global)
    e = rng.standard_normal((n_days, wy.shape[1], wx.shape[1]))
    if tau is not None:
        r = np.exp(-1.0 / tau)
        b = np.sqrt(1.0 - r * r)
        for i in range(1, n_days):
            e[i] = r * e[i - 1] + b * e[i]
    return _LatticeNoise(e, wy, wx)


def _resolution(grid: Grid) -> float:
    d = [np.abs(np.diff(c)).max() for c in (grid.lat, grid.lon) if len(c) > 1]
    return float(max(d)) if d else 1.0


def _box(z: np.ndarray, lo: float, hi: float, taper: float) -> np.ndarray:
    return _logistic((z - lo) / taper) * _logistic((hi - z) / taper)


def _inside(poly: list[tuple[float, float]], lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Even-odd point-in-polygon test, vectorised over points."""
    p = np.asarray(poly, dtype=float)
    xs, ys = p[:, 0], p[:, 1]
    inside = np.zeros(np.broadcast(lon, lat).shape, dtype=bool)
    for k in range(len(p)):
        xi, yi, xj, yj = xs[k], ys[k], xs[k - 1], ys[k - 1]
        if yi == yj:
            continue
        crosses = (yi > lat) != (yj > lat)
        x_cross = xi + (xj - xi) * (lat - yi) / (yj - yi)
        inside ^= crosses & (lon < x_cross)
    return inside


def _smooth(field: np.ndarray, grid: Grid, sd: float) -> np.ndarray:
    """Normalised Gaussian smoothing (sd in degrees) of a (lat, lon) field."""
    dy = grid.lat[:, None] - grid.lat[None, :]
    dx = grid.lon[:, None] - grid.lon[None, :]
    if grid.is_global:
        dx = (dx + 180.0) % 360.0 - 180.0
    ky, kx = np.exp(-0.5 * (dy / sd) ** 2), np.exp(-0.5 * (dx / sd) ** 2)
    return (ky @ field @ kx.T) / (ky @ np.ones_like(field) @ kx.T)


def _q_sat(t: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Saturation specific humidity (kg/kg); Bolton (1980) vapour pressure over water."""
    e = 611.2 * np.exp(17.67 * (t - 273.15) / (t - 29.65))
    return 0.622 * e / (p - 0.378 * e)


def _itcz_clim(s: np.ndarray) -> np.ndarray:
    """Climatological West African rain-band latitude at scaled day of year ``s``."""
    d, y = ITCZ_KNOTS[:, 0], ITCZ_KNOTS[:, 1]
    d = np.concatenate([d - YEAR, d, d + YEAR])
    y = np.concatenate([y, y, y])
    return np.interp(np.mod(s, YEAR), d, y)


# ----------------------------------------------------------------------------- statics
@dataclass(frozen=True)
class _Statics:
    land: np.ndarray       # (lat, lon) 0/1
    orog: np.ndarray       # m
    cont: np.ndarray       # smoothed land fraction (8 deg)
    inland: np.ndarray     # smoothed land fraction (1 deg): maritime influence on coasts
    w_wa: np.ndarray       # West African weight
    pat1: np.ndarray       # ocean-mode patterns
    pat2: np.ndarray
    cold: np.ndarray       # cold-tongue pattern
    f_geo: np.ndarray      # orographic and coastal rain factor


def land_sea_mask(grid: Grid) -> np.ndarray:
    """0/1 land mask (lat, lon) of cell centres inside the coarse coastline polygons;
    land south of 70 S (Antarctica)."""
    lon, lat = np.meshgrid(grid.lon, grid.lat)
    land = lat <= -70.0
    for poly in POLYGONS:
        land |= _inside(poly, lon, lat)
    return land.astype(np.float32)


def orography(grid: Grid, land: np.ndarray | None = None) -> np.ndarray:
    """Surface height (m): 250 m over land plus Gaussian massifs (:data:`MASSIFS`), 0 at sea."""
    land = land_sea_mask(grid) if land is None else land
    lat, lon = grid.lat[:, None], grid.lon[None, :]
    h = np.full(land.shape, 250.0)
    for y0, x0, hgt, sy, sx in MASSIFS:
        dx = (lon - x0 + 180.0) % 360.0 - 180.0
        h = h + hgt * np.exp(-0.5 * ((lat - y0) / sy) ** 2 - 0.5 * (dx / sx) ** 2)
    return (h * land).astype(np.float32)


def _statics(grid: Grid) -> _Statics:
    land = land_sea_mask(grid).astype(float)
    orog = orography(grid, land).astype(float)
    lat, lon = grid.lat[:, None], grid.lon[None, :]
    shape = land.shape
    cont = _smooth(land, grid, 8.0)
    inland = np.clip(0.3 + 0.7 * _smooth(land, grid, 1.0), 0.0, 1.0)
    w_wa = np.broadcast_to(_box(lon, -30.0, 35.0, 4.0) * _box(lat, -15.0, 35.0, 4.0), shape)
    pat1 = np.broadcast_to(np.exp(-0.5 * ((lat + 1) / 5) ** 2 - 0.5 * ((lon + 10) / 18) ** 2), shape)
    pat2 = np.broadcast_to(np.exp(-0.5 * ((lat - 15) / 8) ** 2 - 0.5 * ((lon + 35) / 20) ** 2), shape)
    cold = np.broadcast_to(np.exp(-0.5 * ((lat + 1) / 3) ** 2 - 0.5 * ((lon + 5) / 15) ** 2), shape)
    wet_guinea = 0.6 * np.exp(-0.5 * ((lon + 12.5) / 2.5) ** 2 - 0.5 * ((lat - 9) / 2.5) ** 2)
    dahomey = 0.4 * np.exp(-0.5 * ((lon - 1) / 2.0) ** 2 - 0.5 * ((lat - 6.5) / 1.5) ** 2)
    f_geo = (1.0 + orog / 1500.0) * (1.0 + wet_guinea) * (1.0 - dahomey)
    return _Statics(land, orog, cont, inland, np.array(w_wa), np.array(pat1), np.array(pat2),
                    np.array(cold), f_geo)


# ----------------------------------------------------------------------------- slow processes
@dataclass(frozen=True)
class _Slow:
    a1: np.ndarray         # (days from EPOCH,) K
    a2: np.ndarray
    a1_lag: np.ndarray     # a1 smoothed by a trailing exponential mean (LAG_TAU days)
    mjo_phase: np.ndarray  # radians
    mjo_amp: np.ndarray


def _slow(seed: int, n_days: int) -> _Slow:
    """Slow scalar processes from EPOCH over ``n_days`` (prefix-stable in ``n_days``)."""
    total = (LAST_DAY - EPOCH).days + 1
    modes = []
    for k, (tau, sd) in enumerate(OCEAN_MODES, start=1):
        e = _rng(seed, 0, f"ocean{k}").standard_normal(total)
        modes.append(sd * _ar1(e, tau, n_days))
    z1 = _ar1(_rng(seed, 0, "mjo_period").standard_normal(total), 25.0, n_days)
    z2 = _ar1(_rng(seed, 0, "mjo_amp").standard_normal(total), 30.0, n_days)
    theta0 = _rng(seed, 0, "mjo_phase").uniform(0, 2 * np.pi)
    period = np.clip(45.0 + 9.0 * z1, 30.0, 60.0)
    phase = theta0 + 2 * np.pi * np.cumsum(1.0 / period)
    lag = _ema(modes[0], LAG_TAU)
    return _Slow(modes[0], modes[1], lag, phase, np.exp(0.45 * z2 - 0.1))


# ----------------------------------------------------------------------------- one year
BLOCK_POINTS = 1_000_000    # grid points x days computed at once (bounds memory, not results)


def _year(grid: Grid, year: int, seed: int, st: _Statics, slow: _Slow,
          first: int, last: int) -> dict[str, np.ndarray]:
    """Time-varying fields for days ``first..last-1`` (0-based) of a calendar year, float32
    ``(day, lat, lon)``.

    The year is computed in day blocks whose boundaries depend on the grid size only; each
    block draws its random amounts from its own stream (seed, year, block) and the lattice
    noises are drawn for the whole year, so results do not depend on the requested days.
    """
    days = pd.date_range(f"{year}-01-01", f"{year}-12-31", freq="D")
    nt = len(days)
    i0 = (days[0] - EPOCH).days
    s = (days.day_of_year.values - 0.5) * YEAR / nt                    # (t,)
    a1_lag = slow.a1_lag[i0:i0 + nt]
    w_season = 0.5 * (1 - np.cos(2 * np.pi * s / YEAR))
    delay = DELAY_PER_K * a1_lag + _rng(seed, year, "onset").normal(0.0, YEAR_DELAY_SD) * w_season
    drivers = {
        "s": s,
        "a1": slow.a1[i0:i0 + nt], "a2": slow.a2[i0:i0 + nt],
        "phi_wa": _itcz_clim(s - delay) - SHIFT_PER_K * a1_lag * w_season,
        "mjo_amp": slow.mjo_amp[i0:i0 + nt], "mjo_phase": slow.mjo_phase[i0:i0 + nt],
    }
    aew_c, aew_s = _easterly_waves(grid, year, seed, nt)
    noise = {name: _lattice_noise(_rng(seed, year, name), nt, grid, spacing, tau)
             for name, spacing, tau in [
                 ("rain_noise", 3.0, 1.5), ("occurrence", 1.5, None), ("ocean_noise", 5.0, 20.0),
                 ("t_noise", 4.0, 3.0), ("p_noise", 6.0, 3.0), ("q_noise", 3.0, 2.0),
                 ("u_noise", 4.0, 2.0), ("v_noise", 4.0, 2.0)]}
    out = {k: np.empty((last - first, *grid.shape), dtype=np.float32) for k in TIME_VARYING}
    block = max(1, BLOCK_POINTS // max(1, grid.shape[0] * grid.shape[1]))
    for a in range(first // block * block, last, block):
        b = min(nt, a + block)
        fields = _fields(grid, st, {k: v[a:b] for k, v in drivers.items()},
                         aew_c[a:b], aew_s[a:b], {k: v.days(a, b) for k, v in noise.items()},
                         _rng(seed, year, f"amount{a}"))
        lo, hi = max(a, first), min(b, last)
        for k in TIME_VARYING:
            out[k][lo - first:hi - first] = fields[k][lo - a:hi - a]
    return out


@dataclass(frozen=True)
class _BlockRain:
    """The daily rain of a block of days and what the other variables take from its
    equations, each ``(day, lat, lon)`` or broadcastable to it."""

    rain: np.ndarray        # mm/day
    wet: np.ndarray         # the day is wet
    phi: np.ndarray         # rain-band latitude
    itd: np.ndarray         # latitude of the inter-tropical discontinuity
    r0: np.ndarray          # rain potential before the intraseasonal and synoptic modulation
    cold: np.ndarray        # cold-tongue season and place
    mjo: np.ndarray         # MJO modulation
    env: np.ndarray         # envelope of the easterly waves


def _fields(grid: Grid, st: _Statics, drv: dict[str, np.ndarray], aew_c: np.ndarray,
            aew_s: np.ndarray, noise: dict[str, np.ndarray],
            amount_rng: np.random.Generator) -> dict[str, np.ndarray]:
    """The equations of the module docstring for a block of days, ``(day, lat, lon)``: the
    rain (:func:`_rain_fields`), then the ocean index, SST, temperature, pressure, humidity
    and wind."""
    T3 = (slice(None), None, None)
    s, a1, a2 = drv["s"], drv["a1"][T3], drv["a2"][T3]
    lat = grid.lat[None, :, None]
    slat = np.abs(lat)
    land = st.land[None]
    w = st.w_wa[None]
    r = _rain_fields(grid, st, drv, aew_c, aew_s, noise, amount_rng)
    rain, wet, phi, itd, r0, cold, mjo, env = r.rain, r.wet, r.phi, r.itd, r.r0, r.cold, r.mjo, r.env

    # Ocean index and SST.
    ocean_index = a1 * st.pat1[None] + a2 * st.pat2[None] + 0.12 * noise["ocean_noise"]
    sst = (300.5 - 42 * np.sin(np.deg2rad(lat)) ** 2
           + 0.12 * lat * np.cos(2 * np.pi * (s[T3] - 235) / YEAR) - 4.0 * cold + ocean_index)

    # Temperature: clear-sky land climate, cloud and rain cooling, coasts, noise.
    n_t = noise["t_noise"]
    t_clear = (301.5 - 45 * np.sin(np.deg2rad(lat)) ** 2 + 6 * np.exp(-(((slat - 18) / 9) ** 2))
               + 0.42 * np.sign(lat) * np.maximum(slat - 4, 0) * np.cos(2 * np.pi * (s[T3] - 160) / YEAR))
    t_cloudy = t_clear - (1 + 3 * np.clip((slat - 6) / 8, 0, 1)) * (1 - np.exp(-r0 / 6.0))
    t_land = t_cloudy - 0.0065 * st.orog[None] - 2.0 * (1 - np.exp(-rain / 10.0)) + 1.0 * n_t
    t_land = st.inland[None] * t_land + (1 - st.inland[None]) * (sst - 0.5)
    t2m = land * t_land + (1 - land) * (sst - 0.8 + 0.3 * n_t)

    # Pressure: subtropical highs, trough, subpolar lows, thermal low, waves, noise.
    mslp = (101500 + 900 * np.exp(-(((slat - 32) / 10) ** 2)) - 300 * np.exp(-((lat - phi) ** 2) / 50)
            - 1200 * np.exp(-(((slat - 60) / 8) ** 2))
            - 100 * st.cont[None] * np.maximum(t_cloudy - 298, 0)
            - 120 * env * aew_c - 80 * mjo
            + (150 + 800 * np.sin(np.deg2rad(lat)) ** 2) * noise["p_noise"])

    # Humidity: relative humidity from monsoon air, rain and noise, times saturation.
    m_wa = _logistic((itd + 0.5 - lat) / 1.5)       # monsoon air, south of the ITD
    m_gl = np.maximum(np.exp(-0.5 * ((lat - phi) / 9) ** 2), 0.8 * np.exp(-(((slat - 50) / 15) ** 2)))
    m = w * m_wa + (1 - w) * m_gl
    n_q = noise["q_noise"]
    rh_land = np.clip(0.15 + 0.55 * m + 0.15 * wet + 0.06 * n_q, 0.05, 0.98)
    rh = land * rh_land + (1 - land) * np.clip(0.78 + 0.03 * n_q, 0.5, 0.95)
    q = rh * _q_sat(t2m, mslp * np.exp(-st.orog[None] / 8400.0))

    # Wind: monsoon south-westerlies / Harmattan north-easterlies; trades and westerlies.
    u_wa = -4.0 * (1 - m_wa) + m_wa * (-3.0 + 5.0 * _logistic(lat / 2.0))
    v_wa = -3.0 * (1 - m_wa) + 3.0 * m_wa
    u_gl = (-6 * np.exp(-(((slat - 15) / 12) ** 2)) + 8 * np.exp(-(((slat - 47) / 12) ** 2))
            - 3 * np.exp(-(((slat - 75) / 8) ** 2)))
    v_gl = 3 * np.tanh((phi - lat) / 6) * np.exp(-(((lat - phi) / 30) ** 2))
    u10 = w * u_wa + (1 - w) * u_gl + 1.5 * mjo + 1.5 * noise["u_noise"]
    v10 = w * v_wa + (1 - w) * v_gl + 2.5 * env * aew_s + 1.5 * noise["v_noise"]

    shape = rain.shape
    out = {
        "total_precipitation": rain, "2m_temperature": t2m, "2m_specific_humidity": q,
        "10m_u_component_of_wind": u10, "10m_v_component_of_wind": v10,
        "mean_sea_level_pressure": mslp, "ocean_index": ocean_index,
    }
    return {k: np.broadcast_to(v, shape) for k, v in out.items()}


def _rain_fields(grid: Grid, st: _Statics, drv: dict[str, np.ndarray], aew_c: np.ndarray,
                 aew_s: np.ndarray, noise: dict[str, np.ndarray],
                 amount_rng: np.random.Generator) -> _BlockRain:
    """The rain equations of the module docstring for a block of days: the rain band's
    latitude, the rain potential, its intraseasonal and synoptic modulation, and the daily
    occurrence and gamma amounts."""
    T3 = (slice(None), None, None)
    s, a1, a2, phi_wa = drv["s"], drv["a1"][T3], drv["a2"][T3], drv["phi_wa"]
    lat = grid.lat[None, :, None]
    lon = grid.lon[None, None, :]
    slat = np.abs(lat)
    w = st.w_wa[None]

    # Rain-band latitude: West African march (delayed by the ocean), zonal ITCZ elsewhere.
    phi_gl = 5.0 + (4.0 + 8.0 * st.cont[None]) * np.cos(2 * np.pi * (s[T3] - 225) / YEAR)
    phi = w * phi_wa[T3] + (1 - w) * phi_gl                           # (t, lat, lon)

    # Rain potential (mm/day).
    d = lat - phi
    early = _logistic(8.0 - phi)             # 1 before the monsoon jump, 0 after
    sigma_n = SIGMA_NORTH + SIGMA_NORTH_EARLY * early
    itd = phi + ITD_OFFSET + ITD_OFFSET_EARLY * early
    band = np.exp(-0.5 * (d / np.where(d > 0, sigma_n, SIGMA_SOUTH)) ** 2)
    band *= _logistic(itd - lat)
    amp = BAND_RAIN * np.clip(1 - 0.018 * (slat - 5), 0.4, 1.2)
    amp = amp * (0.4 + 0.6 * _logistic((phi - 1.0) / 1.5))
    g_c = _logistic((8.0 - lat) / 1.5)
    ocean_mod = np.clip(1 + 0.3 * a1 * g_c + (0.35 * a2 - 0.15 * a1) * (1 - g_c), 0.3, 2.0)
    winter = np.cos(2 * np.pi * (s[T3] - 15) / YEAR) * np.sign(lat)   # +1 in local winter
    r_mid = (2.2 + 0.5 * winter) * np.exp(-(((slat - 47) / 11) ** 2)) \
        + 0.4 * np.exp(-(((slat - 75) / 12) ** 2))
    ct_season = (0.5 * (1 + np.cos(2 * np.pi * (s - 215) / YEAR))) ** 2
    cold = st.cold[None] * ct_season[T3]
    r0 = (amp * band * ocean_mod + r_mid) * st.f_geo[None] * (1 - 0.6 * cold)

    # Intraseasonal and synoptic modulation.
    mjo = (drv["mjo_amp"][T3] * np.cos(np.deg2rad(lon) - drv["mjo_phase"][T3])
           * np.exp(-((lat / 25.0) ** 2)))
    active = np.clip((phi_wa - 5.0) / 3.0, 0.0, 1.0)[T3]
    env = active * _box(lon, -60.0, 35.0, 5.0) * np.exp(-0.5 * ((lat - phi - 2.0) / 4.0) ** 2)
    aew_rain = env * (aew_c - aew_s) / np.sqrt(2.0)
    log_mod = 0.3 * mjo + 0.4 * aew_rain - 0.08 * env ** 2 + 0.35 * noise["rain_noise"] - 0.5 * 0.35 ** 2
    pot = r0 * np.exp(np.clip(log_mod, -3.0, 1.6))

    # Daily rain: occurrence from a correlated latent field, gamma amounts.
    p_wet = P_MAX * (1 - np.exp(-((pot / R_HALF) ** P_POWER)))
    wet = _norm_cdf(noise["occurrence"]) < p_wet
    mean_wet = np.minimum(pot / np.maximum(p_wet, 1e-9), MU_LOW + pot)
    amounts = amount_rng.gamma(GAMMA_SHAPE, 1.0, size=pot.shape)
    rain = np.where(wet, amounts * mean_wet / GAMMA_SHAPE, 0.0)
    return _BlockRain(rain=rain, wet=wet, phi=phi, itd=itd, r0=r0, cold=cold, mjo=mjo, env=env)


def _easterly_waves(grid: Grid, year: int, seed: int, nt: int) -> tuple[np.ndarray, np.ndarray]:
    """Westward-moving wave train: in-phase and quadrature parts ``(day, 1, lon)``, unit variance."""
    rng = _rng(seed, year, "easterly_waves")
    n = 6
    lam = rng.uniform(2000.0, 4000.0, n)        # km
    speed = rng.uniform(7.0, 9.0, n) * 86.4     # km/day
    psi = rng.uniform(0.0, 2 * np.pi, n)
    r = rng.rayleigh(1.0, n)
    norm = np.sqrt((r ** 2).sum() / 2.0)
    xkm = R_EARTH_KM * np.cos(np.deg2rad(12.0)) * np.deg2rad(grid.lon)
    t = np.arange(nt) + 0.5
    theta = 2 * np.pi * (xkm[None, :, None] + speed * t[:, None, None]) / lam + psi  # (t, lon, n)
    c = (r * np.cos(theta)).sum(-1) / norm
    s = (r * np.sin(theta)).sum(-1) / norm
    return c[:, None, :], s[:, None, :]


# ----------------------------------------------------------------------------- public API
def _check(grid: Grid, start: str, end: str, seed: int) -> tuple[Grid, pd.Timestamp, pd.Timestamp]:
    """Validate the arguments; the grid comes back with float arrays, the dates as Timestamps."""
    if not isinstance(grid, Grid):
        raise SowcastError(f"synthesize needs a sowcast Grid, not {type(grid).__name__}")
    lat, lon = np.asarray(grid.lat, float), np.asarray(grid.lon, float)
    if lat.ndim != 1 or lon.ndim != 1 or lat.size == 0 or lon.size == 0:
        raise SowcastError("grid latitudes and longitudes must be non-empty 1-D arrays")
    if (np.diff(lat) <= 0).any() or lat[0] < -90 or lat[-1] > 90:
        raise SowcastError("grid latitudes must be strictly ascending within [-90, 90]")
    if (np.diff(lon) <= 0).any() or lon[0] < -180 or lon[-1] >= 180:
        raise SowcastError("grid longitudes must be strictly ascending within [-180, 180)")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise SowcastError(f"seed must be a non-negative integer, not {seed!r}")
    times = []
    for what, text in (("start", start), ("end", end)):
        try:
            ts = pd.Timestamp(text)
        except (ValueError, TypeError):
            raise SowcastError(f"{what} {text!r} is not a date (use YYYY-MM-DD)") from None
        if ts is pd.NaT or pd.isna(ts):
            raise SowcastError(f"{what} {text!r} is not a date (use YYYY-MM-DD)")
        if ts.tzinfo is not None or ts != ts.normalize():
            raise SowcastError(f"{what} {text!r} must be a calendar date (daily steps at midnight)")
        if not EPOCH <= ts <= LAST_DAY:
            raise SowcastError(f"{what} {ts:%Y-%m-%d} is outside {EPOCH:%Y-%m-%d}..{LAST_DAY:%Y-%m-%d}")
        times.append(ts)
    if times[1] < times[0]:
        raise SowcastError(f"end {times[1]:%Y-%m-%d} is before start {times[0]:%Y-%m-%d}")
    return Grid(lat=lat, lon=lon), times[0], times[1]


def _generate(grid: Grid, st: _Statics, t0: pd.Timestamp, t1: pd.Timestamp, seed: int
              ) -> Iterator[tuple[pd.DatetimeIndex, dict[str, np.ndarray]]]:
    """Yield (days, fields) for each calendar year overlapping [t0, t1], clipped to it."""
    slow = _slow(seed, (pd.Timestamp(f"{t1.year}-12-31") - EPOCH).days + 1)
    for year in range(t0.year, t1.year + 1):
        days = pd.date_range(max(t0, pd.Timestamp(f"{year}-01-01")),
                             min(t1, pd.Timestamp(f"{year}-12-31")), freq="D")
        first = (days[0] - pd.Timestamp(f"{year}-01-01")).days
        yield days, _year(grid, year, seed, st, slow, first, first + len(days))


def _dataset(grid: Grid, days: pd.DatetimeIndex, fields: dict[str, np.ndarray],
             statics: dict[str, np.ndarray], seed: int) -> xr.Dataset:
    coords = {
        "time": ("time", days.values.astype("datetime64[ns]"), dict(COORD_ATTRS["time"])),
        "lat": ("lat", np.asarray(grid.lat, dtype=np.float64), dict(COORD_ATTRS["lat"])),
        "lon": ("lon", np.asarray(grid.lon, dtype=np.float64), dict(COORD_ATTRS["lon"])),
    }
    data = {k: (("time", "lat", "lon"), fields[k], cf_attrs(k)) for k in TIME_VARYING}
    data.update({k: (("lat", "lon"), statics[k], cf_attrs(k)) for k in STATIC})
    return xr.Dataset(data, coords=coords, attrs={
        "title": "sowcast synthetic West African monsoon",
        "source": f"sowcast synthetic monsoon v{VERSION}, seed {seed}",
        "history": f"made by sowcast.data.synthetic_monsoon v{VERSION} (seed {seed})",
        "time_step": "P1D",
        "precipitation_accumulation": PRECIPITATION_ACCUMULATION,
        "Conventions": "CF-1.8",
        "comment": "Synthetic data from explicit equations (sowcast.data.synthetic_monsoon); "
                   "not observations.",
    })


def _static_arrays(st: _Statics) -> dict[str, np.ndarray]:
    return {"land_sea_mask": st.land.astype(np.float32), "orography": st.orog.astype(np.float32)}


def synthesize(grid: Grid, start: str, end: str, seed: int = 0) -> xr.Dataset:
    """Daily synthetic West African monsoon on ``grid`` from ``start`` to ``end`` (inclusive).

    Returns an in-memory canonical Dataset: :data:`TIME_VARYING` fields ``(time, lat, lon)``
    and :data:`STATIC` fields ``(lat, lon)``, float32, CF attributes. Values of a given
    (seed, day, grid point) do not depend on ``start`` and ``end``.
    """
    grid, t0, t1 = _check(grid, start, end, seed)
    st = _statics(grid)
    parts = list(_generate(grid, st, t0, t1, int(seed)))
    days = pd.DatetimeIndex(np.concatenate([p[0].values for p in parts]))
    fields = {k: np.concatenate([p[1][k] for p in parts]) for k in TIME_VARYING}
    return _dataset(grid, days, fields, _static_arrays(st), int(seed))


def write_raw(output: str | Path, grid: Grid, start: str, end: str, seed: int = 0,
              overwrite: bool = False, progress: bool = True) -> list[Path]:
    """Write one CF netCDF file per calendar year, ``synthetic_monsoon_YYYY.nc``, into the
    folder ``output``, atomically as a whole folder; returns the file paths."""
    from tqdm import tqdm

    grid, t0, t1 = _check(grid, start, end, seed)
    st = _statics(grid)
    statics = _static_arrays(st)
    output = Path(output)
    names: list[str] = []
    with atomic_path(output, overwrite=overwrite, directory=True) as tmp:
        years = tqdm(_generate(grid, st, t0, t1, int(seed)), total=t1.year - t0.year + 1,
                     desc="synthesise", unit="year", disable=not progress, file=sys.stderr)
        for days, fields in years:
            ds = _dataset(grid, days, fields, statics, int(seed))
            encoding = {k: {"zlib": True, "complevel": 4, "shuffle": True, "dtype": "float32",
                            "_FillValue": None}
                        for k in ds.data_vars}
            encoding["time"] = {"units": TIME_UNITS, "calendar": "proleptic_gregorian", "dtype": "int32"}
            encoding["lat"] = encoding["lon"] = {"_FillValue": None}
            name = f"synthetic_monsoon_{days[0].year}.nc"
            ds.to_netcdf(tmp / name, engine="netcdf4", format="NETCDF4", encoding=encoding)
            names.append(name)
    return [output / n for n in names]


def sivakumar_onset_doy(rain_mm: np.ndarray, dates: pd.DatetimeIndex, *,
                        first_day: str = "05-01", last_day: str = "09-30",
                        total_mm: float = 20.0, window_days: int = 3, dry_day_mm: float = 1.0,
                        max_dry_spell: int = 7, check_days: int = 30) -> np.ndarray:
    """Sivakumar (1988) onset, as day of year, for each calendar year in ``dates``.

    Onset is the first day ``d`` from ``first_day`` to ``last_day`` such that rain over
    ``window_days`` days starting at ``d`` is at least ``total_mm`` and the ``check_days``
    days starting at ``d`` hold no run of more than ``max_dry_spell`` dry days (rain below
    ``dry_day_mm``). ``rain_mm`` has time first (any trailing dims). Returns a float array
    ``(n_years, *rain_mm.shape[1:])``, one row per year of ``sorted(set(dates.year))``,
    NaN where there is no onset or the data do not cover the test.
    """
    rain = np.asarray(rain_mm, dtype=float)
    dates = pd.DatetimeIndex(dates)
    if rain.shape[:1] != (len(dates),):
        raise SowcastError(f"rain has {rain.shape[:1]} time steps but dates has {len(dates)}")
    years = np.unique(dates.year)
    out = np.full((len(years), *rain.shape[1:]), np.nan)
    span = max(window_days, check_days)
    run = max_dry_spell + 1
    for k, year in enumerate(years):
        first = pd.Timestamp(f"{year}-{first_day}")
        n_cand = (pd.Timestamp(f"{year}-{last_day}") - first).days + 1
        idx = dates.get_indexer(pd.date_range(first, periods=n_cand + span - 1, freq="D"))
        r = np.where((idx >= 0).reshape((-1,) + (1,) * (rain.ndim - 1)), rain[idx], np.nan)

        wet_total = _window_sum(np.nan_to_num(r), window_days)[:n_cand]
        dry_runs = _window_sum((r < dry_day_mm).astype(float), run) >= run     # run starting at i
        if check_days >= run:
            spells = _window_sum(dry_runs.astype(float), check_days - run + 1)[:n_cand] > 0
        else:  # the check window is too short to hold a long dry spell
            spells = np.zeros((n_cand, *rain.shape[1:]), dtype=bool)
        missing = _window_sum(np.isnan(r).astype(float), span)[:n_cand] > 0
        ok = (wet_total >= total_mm) & ~spells & ~missing
        found = ok.any(axis=0)
        out[k] = np.where(found, first.day_of_year + np.argmax(ok, axis=0), np.nan)
    return out
