//! Summary statistics of repeated measurements.

/// Median, mean, sample standard deviation and 90th percentile of a set of measurements.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    /// How many values.
    pub n: usize,
    /// The middle value (mean of the two middle ones for an even count).
    pub median: f64,
    /// The arithmetic mean.
    pub mean: f64,
    /// Sample standard deviation (0 for fewer than two values).
    pub std_dev: f64,
    /// The 90th percentile, nearest rank.
    pub p90: f64,
    /// The smallest value.
    pub min: f64,
    /// The largest value.
    pub max: f64,
}

impl Summary {
    /// Summarises `values`.
    ///
    /// # Panics
    ///
    /// If `values` is empty or holds a NaN.
    pub fn of(values: &[f64]) -> Summary {
        assert!(!values.is_empty(), "no measurements to summarise");
        let mut v = values.to_vec();
        v.sort_by(|a, b| a.partial_cmp(b).expect("NaN measurement"));
        let n = v.len();
        let median = if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        };
        let mean = v.iter().sum::<f64>() / n as f64;
        let std_dev = if n > 1 {
            (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt()
        } else {
            0.0
        };
        let rank = ((0.9 * n as f64).ceil() as usize).clamp(1, n);
        Summary {
            n,
            median,
            mean,
            std_dev,
            p90: v[rank - 1],
            min: v[0],
            max: v[n - 1],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_of_known_values() {
        let s = Summary::of(&[4.0, 1.0, 3.0, 2.0]);
        assert_eq!(
            (s.median, s.mean, s.min, s.max, s.p90),
            (2.5, 2.5, 1.0, 4.0, 4.0)
        );
        assert!((s.std_dev - 1.290_994).abs() < 1e-5);
        let t: Vec<f64> = (1..=20).map(f64::from).collect();
        let s = Summary::of(&t);
        assert_eq!((s.median, s.p90), (10.5, 18.0));
        assert_eq!(Summary::of(&[5.0]).std_dev, 0.0);
    }
}
