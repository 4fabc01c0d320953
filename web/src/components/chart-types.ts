/** The charts' data shapes, apart from their drawing (which needs the DOM), so plain helpers and their tests can use them. */

export interface HorizonSeries {
  /** Time of values[0] (ms since the epoch) and the step between values (ms). */
  start: number;
  step: number;
  /** One value per step; null: no data (drawn empty). */
  values: (number | null)[];
}

/** One horizon chart of a board. */
export interface BoardRow {
  key: string;
  title: string;
  series: HorizonSeries;
}

/** One line of a line chart: [time ms, value] points. */
export interface LineSeries {
  name: string;
  points: [number, number][];
}
