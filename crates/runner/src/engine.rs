//! The one loop every task shares: select the grid's runs, then for each run take its lock, check
//! its identity, train with checkpoints, metrics and progress, and write its summary; the grid
//! goes on past a failed run, and `summary.csv` is collected from the run folders at the end.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use formats::run::{read_json, run_dirs, CONFIG_FILE, METRICS_FILE, SUMMARY_FILE};
use formats::schedule::{
    plateau, read_tolerances, write_curves, write_schedules, Curve, GroupSchedule, SCHEDULE_FILE,
    VALIDATION_CURVES_FILE,
};
use formats::selection::{write_table, Candidate, LR_SELECTION_FILE, SELECTION_FOLDER};
use formats::{Method, Numerics, RunHeader, Selected, SummaryRow};
use serial_lora::{AdamW, LossScaler};

use crate::args::GridArgs;
use crate::checkpoint::{Checkpoint, Progress};
use crate::ema::Ema;
use crate::lock::RunLock;
use crate::memory::{peak_rss_mb, reset_peak_rss};
use crate::progress::run_bar;
use crate::run_dir::{MetricsLog, RunDir};
use crate::task::{Experiment, RunContext, RunSpec, Session, Stage, Task, TrainStats};

/// Log a metrics row every this many steps (and at the last).
const LOG_EVERY: usize = 10;

/// How one run ended in this invocation.
#[derive(Debug)]
pub enum Outcome<S> {
    /// Trained now, or found finished with the same configuration.
    Finished(S),
    /// Another process holds the run.
    Busy,
    /// The step budget ran out; its checkpoint is saved.
    Paused,
    /// A selection run whose loss became NaN or infinite: a result (this candidate diverges),
    /// recorded in its folder's `diverged.json`, not a failure.
    Diverged,
}

/// A diverged selection run's record: the step and loss that ended it.
const DIVERGED_FILE: &str = "diverged.json";

/// A runner's `main`: parses nothing itself, runs what `args` select, prints a report and returns
/// the exit code (non-zero when a run failed). `adjust` applies the task's own flags.
pub fn main<T: Task>(args: &GridArgs, adjust: impl Fn(&mut T::Experiment)) -> ExitCode {
    if let Err(e) = torch_ext::numerics::pin(args.numerics) {
        eprintln!("error: {e}");
        return ExitCode::FAILURE;
    }
    match run_grid::<T>(args, adjust) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The selected runs of the experiment in `args`. A grid stage whose selected runs lack their
/// chosen learning rate is refused, naming the first missing (data set, method).
pub fn select<T: Task>(
    args: &GridArgs,
    adjust: impl Fn(&mut T::Experiment),
) -> Result<(T::Experiment, Vec<T::Spec>)> {
    let expanded = expand::<T>(args, &adjust)?;
    expanded.refuse_pending()?;
    Ok((expanded.experiment, expanded.runs))
}

/// An experiment's selected runs, and what they still lack.
struct Expanded<T: Task> {
    experiment: T::Experiment,
    runs: Vec<T::Spec>,
    /// (data set, method) pairs of selected grid runs without a chosen learning rate yet.
    pending: BTreeSet<(String, Method)>,
    /// The selection table the grid reads.
    table: PathBuf,
}

impl<T: Task> Expanded<T> {
    fn refuse_pending(&self) -> Result<()> {
        match self.pending.first() {
            Some((dataset, method)) => bail!(
                "{}: no chosen learning rate for data set `{dataset}` and method `{method}`: run \
                 the selection first (the same command with --select), or run the grid without \
                 --list/--slurm/--shard/--run-index, which selects first",
                self.table.display()
            ),
            None => Ok(()),
        }
    }
}

/// Reads the experiment, applies the command line and expands the runs `args` select. The
/// grid stage of an experiment with `[select]` is expanded against the selection table
/// leniently, so only the runs that remain after filtering need their choices (`pending`).
fn expand<T: Task>(args: &GridArgs, adjust: &impl Fn(&mut T::Experiment)) -> Result<Expanded<T>> {
    let (config, experiment) = read_experiment::<T>(args, adjust)?;
    let root = formats::paths::repo_root();
    let table = args.results.join(T::NAME).join(LR_SELECTION_FILE);
    let selected = match experiment.selection() {
        Some(_) if !args.select => Some(Selected::read_lenient(&table)?),
        _ => None,
    };
    let stage = match (args.select, experiment.selection()) {
        (true, Some(section)) => Stage::Select(section),
        (true, None) => bail!("{}: --select needs a [select] section", config.display()),
        (false, _) => Stage::Final(selected.as_ref()),
    };
    let all = experiment
        .runs(&root, stage)
        .with_context(|| format!("{}: invalid experiment", config.display()))?;
    for spec in &all {
        check_run_name(&spec.name())?;
    }
    let total = all.len();
    let mut runs: Vec<T::Spec> = all
        .into_iter()
        .filter(|r| args.selects(&r.coords()))
        .collect();
    if runs.is_empty() {
        bail!(
            "{}: no run of its {total} matches {}",
            config.display(),
            args.filters()
        );
    }
    let (shard, shards) = args.shard;
    runs = runs.into_iter().skip(shard).step_by(shards).collect();
    if let Some(i) = args.run_index {
        if i >= runs.len() {
            bail!("--run-index {i}: the selection has {} run(s)", runs.len());
        }
        runs = vec![runs.swap_remove(i)];
    }
    let missing = selected.map(|s| s.missing()).unwrap_or_default();
    let pending = runs
        .iter()
        .map(|r| {
            let c = r.coords();
            (c.dataset, c.method)
        })
        .filter(|pair| missing.contains(pair))
        .collect();
    Ok(Expanded {
        experiment,
        runs,
        pending,
        table,
    })
}

/// The experiment file of `args` with the command line's values applied, validated.
fn read_experiment<'a, T: Task>(
    args: &'a GridArgs,
    adjust: &impl Fn(&mut T::Experiment),
) -> Result<(&'a Path, T::Experiment)> {
    let config = args
        .config
        .as_deref()
        .context("--config experiments/<name>.toml is required")?;
    let mut experiment: T::Experiment = crate::experiment::read_toml(config)?;
    experiment.apply(&args.overrides()?);
    adjust(&mut experiment);
    experiment
        .validate()
        .with_context(|| format!("{}: invalid experiment", config.display()))?;
    Ok((config, experiment))
}

/// Runs the learning-rate selection of exactly the `pending` (data set, method) pairs, then
/// writes the selection table: what a grid needs before its runs can start.
fn select_first<T: Task>(
    args: &GridArgs,
    adjust: &impl Fn(&mut T::Experiment),
    pending: &BTreeSet<(String, Method)>,
) -> Result<()> {
    let select_args = GridArgs {
        select: true,
        ..args.clone()
    };
    let (_, experiment) = read_experiment::<T>(args, adjust)?;
    let section = experiment
        .selection()
        .context("selecting first needs a [select] section")?;
    let root = formats::paths::repo_root();
    let runs: Vec<T::Spec> = experiment
        .runs(&root, Stage::Select(section))?
        .into_iter()
        .filter(|r| {
            let c = r.coords();
            pending.contains(&(c.dataset, c.method))
        })
        .collect();
    let pairs: Vec<String> = pending.iter().map(|(d, m)| format!("{m} on {d}")).collect();
    eprintln!(
        "selecting first: no chosen learning rate yet for {}; running their {} selection run(s) (--select)",
        pairs.join(", "),
        runs.len()
    );
    if let Some(code) = run_all::<T>(&select_args, &runs, section.plateau)? {
        bail!("the learning-rate selection did not finish ({code:?}); rerun the same command");
    }
    collect_selection::<T>(&args.results, section.plateau)
}

/// A run folder's name must stay inside `<results>/<task>/`: one safe path component, under
/// `selection/` for a selection run.
fn check_run_name(name: &str) -> Result<()> {
    let own = name.strip_prefix("selection/").unwrap_or(name);
    formats::paths::check_component(own).map_err(|reason| {
        anyhow::anyhow!(
            "run name {name:?} (made of the backbone, data set and method names) {reason}; \
             rename what the experiment file or the command line gives"
        )
    })
}

fn run_grid<T: Task>(args: &GridArgs, adjust: impl Fn(&mut T::Experiment)) -> Result<ExitCode> {
    if let Some(n) = args.threads {
        if n == 0 {
            bail!("--threads must be at least 1");
        }
        tch::set_num_threads(n as i32);
    }
    let rule = schedule_rule::<T>(args, &adjust)?;
    if args.collect {
        collect_stage::<T>(args, rule)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut expanded = expand::<T>(args, &adjust)?;
    let alone = !(args.list || args.slurm || args.shard.1 > 1 || args.run_index.is_some());
    if !expanded.pending.is_empty() && alone {
        check_writable(&args.results.join(T::NAME))?;
        select_first::<T>(args, &adjust, &expanded.pending)?;
        expanded = expand::<T>(args, &adjust)?;
    }
    expanded.refuse_pending()?;
    let (experiment, runs) = (expanded.experiment, expanded.runs);
    if args.list {
        let mut out = std::io::stdout().lock();
        for spec in &runs {
            let dir = args.results.join(T::NAME).join(spec.name());
            // A closed pipe (`--list | head`) ends the listing quietly.
            if writeln!(out, "{}", dir.display()).is_err() {
                break;
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    if args.slurm {
        let options = args.slurm_options.or(experiment.slurm());
        crate::slurm::submit(T::NAME, &args.results, runs.len(), &options)?;
        return Ok(ExitCode::SUCCESS);
    }
    check_writable(&args.results.join(T::NAME))?;
    if let Some(code) = run_all::<T>(args, &runs, rule)? {
        return Ok(code);
    }
    if !args.no_collect {
        collect_stage::<T>(args, rule)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs `runs` one after another, going on past failures; `Some(code)` when the caller should
/// stop with it (a run failed, or the step budget paused one), `None` when every run finished
/// (or was busy in another process, which is reported).
fn run_all<T: Task>(
    args: &GridArgs,
    runs: &[T::Spec],
    rule: Option<f64>,
) -> Result<Option<ExitCode>> {
    let mut failed = Vec::new();
    let mut busy = Vec::new();
    for (i, spec) in runs.iter().enumerate() {
        eprintln!("[{}/{}] {}", i + 1, runs.len(), spec.name());
        match run_one_on::<T>(spec, &args.results, args.step_budget, args.device) {
            Ok(Outcome::Finished(_)) => {}
            Ok(Outcome::Diverged) => eprintln!("{}: diverged (a candidate result)", spec.name()),
            Ok(Outcome::Busy) => busy.push(spec.name()),
            Ok(Outcome::Paused) => {
                eprintln!("stopped at the step budget; run the same command again to resume");
                return Ok(Some(ExitCode::SUCCESS));
            }
            Err(e) => {
                eprintln!("[{}/{}] {} FAILED: {e:#}", i + 1, runs.len(), spec.name());
                failed.push((spec.name(), format!("{e:#}")));
            }
        }
    }
    for name in &busy {
        eprintln!("skipped {name}: another process is running it");
    }
    if failed.is_empty() {
        return Ok(None);
    }
    if !args.no_collect {
        collect_stage::<T>(args, rule)?;
    }
    eprintln!("{} of {} run(s) failed:", failed.len(), runs.len());
    for (name, error) in &failed {
        eprintln!("  {name}: {error}");
    }
    Ok(Some(ExitCode::FAILURE))
}

/// Fails, before any run starts, when `dir` cannot be created or written.
fn check_writable(dir: &Path) -> Result<()> {
    let probe = dir.join(format!(".writable-{}", std::process::id()));
    std::fs::create_dir_all(dir)
        .and_then(|()| std::fs::write(&probe, b""))
        .and_then(|()| std::fs::remove_file(&probe))
        .with_context(|| format!("results folder {} is not writable", dir.display()))
}

/// Rebuilds `<results>/<task>/summary.csv` from the finished run folders.
pub fn collect<T: Task>(results: &Path) -> Result<()> {
    collect_folder::<<T::Session as Session>::Summary>(results, T::NAME)
}

fn collect_folder<S: SummaryRow>(results: &Path, folder: &str) -> Result<()> {
    let (path, rows) = formats::collect::<S>(results, folder)?;
    eprintln!("{}: {rows} finished run(s)", path.display());
    Ok(())
}

/// The selection stage's schedule rule (`[select] plateau`), when `args` collect or run it; an
/// experiment file that cannot be read is an error, not a missing rule.
fn schedule_rule<T: Task>(
    args: &GridArgs,
    adjust: &impl Fn(&mut T::Experiment),
) -> Result<Option<f64>> {
    if !args.select || args.config.is_none() {
        return Ok(None);
    }
    let (_, experiment) = read_experiment::<T>(args, adjust)?;
    Ok(experiment.selection().and_then(|s| s.plateau))
}

fn collect_stage<T: Task>(args: &GridArgs, rule: Option<f64>) -> Result<()> {
    if args.select {
        collect_selection::<T>(&args.results, rule)
    } else {
        collect::<T>(&args.results)
    }
}

/// Rebuilds `<results>/<task>/selection/summary.csv` from the finished selection runs and writes
/// `<results>/<task>/lr_selection.csv`: every candidate's validation score (NaN: it diverged) and
/// the chosen one per (backbone, data set, method). Runs with validation curves also give
/// `validation_curves.csv`; with a schedule rule's tolerance `plateau`, `schedule.csv` too, and
/// each candidate is then scored at the length the rule chose ([`formats::schedule::plateau`]).
pub fn collect_selection<T: Task>(results: &Path, plateau_tolerance: Option<f64>) -> Result<()> {
    type Summary<T> = <<T as Task>::Session as Session>::Summary;
    let folder = format!("{}/{SELECTION_FOLDER}", T::NAME);
    collect_folder::<Summary<T>>(results, &folder)?;
    let mut candidates = Vec::new();
    let mut curves = Vec::new();
    for dir in run_dirs(results, &folder)? {
        let file = dir.join(SUMMARY_FILE);
        let score = if file.is_file() {
            read_json::<Summary<T>>(&file)?.score()
        } else if dir.join(DIVERGED_FILE).is_file() {
            f64::NAN
        } else {
            continue;
        };
        let spec: T::Spec = read_json(&dir.join(CONFIG_FILE))?;
        let header = RunHeader::read(&dir)?;
        let (coords, optim) = (spec.coords(), spec.optim());
        let candidate = Candidate {
            backbone: header.backbone,
            dataset: coords.dataset,
            method: coords.method,
            rank: coords.rank,
            seed: coords.seed,
            lr: optim.lr,
            plus_ratio: optim.lr_ratio,
            score,
            steps: None,
        };
        if let Some(curve) = Curve::read(&dir)? {
            curves.push((candidate.clone(), curve));
        }
        candidates.push(candidate);
    }
    if candidates.is_empty() {
        bail!(
            "{}: no finished selection run to choose from",
            results.join(&folder).display()
        );
    }
    let task = results.join(T::NAME);
    if !curves.is_empty() {
        write_curves(
            &task.join(VALIDATION_CURVES_FILE),
            Summary::<T>::SCORE,
            &curves,
        )?;
    }
    // Each (backbone, data set) with curves keeps the tolerance its schedule was chosen with,
    // unless this experiment states one.
    let path = task.join(SCHEDULE_FILE);
    let mut tolerances = read_tolerances(&path)?;
    if let Some(tolerance) = plateau_tolerance {
        for (c, _) in &curves {
            tolerances.insert((c.backbone.clone(), c.dataset.clone()), tolerance);
        }
    }
    let schedules = schedules(&curves, &tolerances, Summary::<T>::MINIMISE);
    if !schedules.is_empty() {
        for c in &mut candidates {
            let group = (c.backbone.clone(), c.dataset.clone());
            let Some(g) = schedules.iter().find(|g| g.group == group) else {
                continue;
            };
            let curve = curves.iter().find(|(k, _)| k == c).map(|(_, curve)| curve);
            c.score = curve.map_or(f64::NAN, |curve| curve.at(g.schedule.steps));
            c.steps = Some(g.schedule.steps);
        }
        write_schedules(&path, Summary::<T>::SCORE, &schedules)?;
        for g in &schedules {
            eprintln!(
                "{} on {}: the schedule rule chose {} steps",
                g.group.0, g.group.1, g.schedule.steps
            );
        }
    }
    let table = task.join(LR_SELECTION_FILE);
    write_table(
        &table,
        Summary::<T>::SCORE,
        Summary::<T>::MINIMISE,
        &candidates,
    )?;
    eprintln!("{}: {} candidate(s)", table.display(), candidates.len());
    Ok(())
}

/// The schedule rule per (backbone, data set) over the candidates' curves, for the groups with a
/// tolerance.
fn schedules(
    curves: &[(Candidate, Curve)],
    tolerances: &BTreeMap<(String, String), f64>,
    minimise: bool,
) -> Vec<GroupSchedule> {
    tolerances
        .iter()
        .filter_map(|(group, &tolerance)| {
            let members: Vec<(&Candidate, &Curve)> = curves
                .iter()
                .filter(|(c, _)| (&c.backbone, &c.dataset) == (&group.0, &group.1))
                .map(|(c, curve)| (c, curve))
                .collect();
            plateau(&members, tolerance, minimise).map(|schedule| GroupSchedule {
                group: group.clone(),
                tolerance,
                schedule,
            })
        })
        .collect()
}

/// Runs `spec` on the CPU under `<results>/<task>/<name>/`: a finished run with the same configuration is not
/// repeated, an interrupted one resumes from its checkpoint, one with another configuration is
/// refused (naming the differing fields). With `step_budget`, at most that many steps are taken.
pub fn run_one<T: Task>(
    spec: &T::Spec,
    results: &Path,
    step_budget: Option<usize>,
) -> Result<Outcome<<T::Session as Session>::Summary>> {
    run_one_on::<T>(spec, results, step_budget, tch::Device::Cpu)
}

/// [`run_one`] on `device`.
pub fn run_one_on<T: Task>(
    spec: &T::Spec,
    results: &Path,
    step_budget: Option<usize>,
    device: tch::Device,
) -> Result<Outcome<<T::Session as Session>::Summary>> {
    let dir = RunDir::create(results, T::NAME, &spec.name())?;
    let Some(_lock) = RunLock::try_acquire(dir.path())? else {
        return Ok(Outcome::Busy);
    };
    dir.claim(&serde_json::to_value(spec)?)?;
    if let Some(summary) = dir.read_json(SUMMARY_FILE)? {
        eprintln!("{}: finished earlier with this configuration", spec.name());
        return Ok(Outcome::Finished(summary));
    }
    if dir.path().join(DIVERGED_FILE).is_file() {
        return Ok(Outcome::Diverged);
    }
    record_numerics(&dir, spec.precision(), device)?;
    reset_peak_rss();
    let root = formats::paths::repo_root();
    let ctx = RunContext {
        dir: &dir,
        root: &root,
        results,
        device,
    };
    // The whole run (scoring the start, training, evaluation) computes in its precision.
    let precision = spec.precision();
    let _autocast = serial_lora::precision::autocast(precision, device)?;
    let mut session = T::start(spec, &ctx)?;
    serial_lora::precision::store_frozen(session.store(), precision);
    let trained = match train(spec, &mut session, &dir, step_budget) {
        Err(e) if spec.scores_validation() => match e.downcast_ref::<serial_lora::Error>() {
            Some(&serial_lora::Error::NonFiniteLoss { step, value }) => {
                let record = serde_json::json!({ "step": step, "loss": value.to_string() });
                dir.write_json(DIVERGED_FILE, &record)?;
                Checkpoint::new(dir.path()).remove()?;
                return Ok(Outcome::Diverged);
            }
            _ => return Err(e),
        },
        other => other?,
    };
    let Some((steps, seconds)) = trained else {
        return Ok(Outcome::Paused);
    };
    let stats = TrainStats {
        steps,
        train_seconds: seconds,
        peak_rss_mb: peak_rss_mb(),
    };
    let summary = session.finish(&dir, &stats)?;
    if spec.validate_every().is_some() {
        type Summary<T> = <<T as Task>::Session as Session>::Summary;
        Curve::record(dir.path(), Summary::<T>::SCORE, steps, summary.score())?;
    }
    dir.write_json(SUMMARY_FILE, &summary)?;
    Checkpoint::new(dir.path()).remove()?;
    eprintln!("{}: {}", spec.name(), brief(&summary));
    Ok(Outcome::Finished(summary))
}

/// Writes what this invocation computes under to the run's `numerics.json`. A run resumed under
/// another signature than it started with is marked `mixed` (its bits match neither).
fn record_numerics(dir: &RunDir, precision: formats::Precision, device: tch::Device) -> Result<()> {
    let mut now = torch_ext::numerics::record(precision, device);
    if let Some(before) = Numerics::read(dir.path())? {
        if before.mixed || before.signature() == now.signature() {
            return Ok(());
        }
        eprintln!(
            "{}: resumed under other numerics ({}) than it started with ({}); marked mixed",
            dir.path().display(),
            now.signature(),
            before.signature()
        );
        now.mixed = true;
    }
    Ok(now.write(dir.path())?)
}

/// `column=value` of a summary, for the log.
fn brief<S: SummaryRow>(summary: &S) -> String {
    S::COLUMNS
        .iter()
        .zip(summary.row())
        .map(|(c, v)| format!("{c}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The training loop: returns the steps and training seconds (over all resumptions), or `None`
/// when the budget ran out first (checkpoint saved).
fn train<S: RunSpec, R: Session>(
    spec: &S,
    session: &mut R,
    dir: &RunDir,
    budget: Option<usize>,
) -> Result<Option<(usize, f64)>> {
    let total = spec.steps();
    if total == 0 {
        return Ok(Some((0, 0.0)));
    }
    let stores = session.trainable();
    let mut optimizer = AdamW::new(&stores, spec.optim().clone())?
        .with_loss_scaler(LossScaler::for_precision(spec.precision()));
    let mut ema = spec.ema_decay().map(|decay| Ema::new(&stores, decay));
    let checkpoint = Checkpoint::new(dir.path());
    let Progress {
        step: start,
        train_seconds: mut seconds,
        mut interval,
    } = checkpoint
        .load(&stores, &mut optimizer, ema.as_mut())?
        .unwrap_or_default();
    drop(stores);
    let mut columns = vec!["step", "loss", "loss_mean", "lr"];
    columns.extend(session.metric_columns());
    let mut metrics = MetricsLog::open(&dir.path().join(METRICS_FILE), &columns, start)?;
    session.skip_to(start)?;
    if start > 0 {
        eprintln!("{}: resuming at step {start}", spec.name());
    }
    let bar = run_bar(total as u64, start as u64, &spec.name());
    let end = budget.map_or(total, |b| total.min(start + b));
    for step in start..end {
        let clock = Instant::now();
        if session.snapshot_due(step) {
            match ema.as_mut() {
                Some(ema) => ema.with_average(|| session.snapshot(step))?,
                None => session.snapshot(step)?,
            }
        }
        session.store().set_step(step as u64);
        let out = session.step(step)?;
        let stepped = optimizer.step(&out.loss).with_context(|| {
            format!(
                "run {}, step {}: lower the learning rate and rerun into another --results \
                 folder (or delete this run's folder)",
                spec.name(),
                step + 1
            )
        })?;
        if let Some(ema) = ema.as_mut() {
            ema.update(step);
        }
        seconds += clock.elapsed().as_secs_f64();
        let (loss, lr) = (stepped.loss, stepped.lr);
        interval.add(loss);
        let done = step + 1;
        if done % LOG_EVERY == 0 || done == total {
            let mean = interval.take().unwrap_or(loss);
            let mut row = vec![
                done.to_string(),
                format!("{loss:.6}"),
                format!("{mean:.6}"),
                format!("{lr:.3e}"),
            ];
            row.extend(
                out.metrics
                    .iter()
                    .map(|m| format!("{:.4}", m.double_value(&[]))),
            );
            metrics.push(row);
            bar.set_message(format!("loss {loss:.4} lr {lr:.2e}"));
        }
        if spec.validate_every().is_some_and(|every| done % every == 0) && done < total {
            let score = match ema.as_mut() {
                Some(ema) => ema.with_average(|| session.validate())?,
                None => session.validate()?,
            };
            Curve::record(dir.path(), R::Summary::SCORE, done, score)?;
        }
        if done < total && (done % spec.checkpoint_every() == 0 || done == end) {
            metrics.flush()?;
            let progress = Progress {
                step: done,
                train_seconds: seconds,
                interval,
            };
            checkpoint.save(&progress, &session.trainable(), &optimizer, ema.as_ref())?;
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    metrics.flush()?;
    if end < total {
        return Ok(None);
    }
    if let Some(ema) = ema.as_mut() {
        ema.swap();
    }
    Ok(Some((total, seconds)))
}

/// A subcommand's exit: prints `done` on success (stdout), the error chain on failure (stderr).
pub fn report(result: Result<String>) -> ExitCode {
    match result {
        Ok(done) => {
            println!("{done}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
